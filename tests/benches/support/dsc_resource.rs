//! A one-setting enforcement process, the baseline of the benchmark suite's "DSC model": like a
//! Microsoft DSC v3 resource, one process is started per setting, fed a JSON document on stdin,
//! and answers with a JSON result on stdout.
//!
//! Input: `{"registry": "<path of the .reg file>", "setting": {"id": "...", "value": {...}}}`
//! where the value is `{"integer": n}`, `{"boolean": b}`, `{"text": "..."}`,
//! `{"textList": [...]}` or `{"integerList": [...]}`.
//! Output: `{"id": "...", "status": "compliant|remediated|error", "message": ...}`.
//!
//! It opens the emulated registry from its file, enforces the setting with the windows-defender
//! plugin compiled natively (`rampart_sdk::native`), and, when it changed something, writes
//! the file back durably (temporary file, fsync, rename), like `rampart apply`'s durable
//! registry. It keeps no journal: the baseline is given the cheaper side of every choice.

use std::io::Read as _;
use std::process::ExitCode;
use std::sync::Arc;

use rampart_backends::defender::SimulatedDefender;
use rampart_backends::registry::{DurableRegistry, EmulatedRegistry, RegistryBackend};
use rampart_policy::device::Device;
use rampart_policy::settings::{ResolvedSetting, SettingValue};
use rampart_runtime::Capabilities;
use rampart_sdk::SettingStatus;

use rampart_plugin_windows_defender::WindowsDefender;
use rampart_sdk::native::NativeHost;

fn value(v: &serde_json::Value) -> Result<SettingValue, String> {
    let strings = |a: &serde_json::Value| -> Option<Vec<String>> {
        a.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    if let Some(i) = v.get("integer").and_then(serde_json::Value::as_i64) {
        Ok(SettingValue::Integer(i))
    } else if let Some(b) = v.get("boolean").and_then(serde_json::Value::as_bool) {
        Ok(SettingValue::Boolean(b))
    } else if let Some(t) = v.get("text").and_then(serde_json::Value::as_str) {
        Ok(SettingValue::Text(t.to_string()))
    } else if let Some(l) = v.get("textList").and_then(strings) {
        Ok(SettingValue::TextList(l))
    } else if let Some(l) = v
        .get("integerList")
        .and_then(serde_json::Value::as_array)
        .and_then(|a| a.iter().map(serde_json::Value::as_i64).collect())
    {
        Ok(SettingValue::IntegerList(l))
    } else {
        Err(format!("unsupported setting value {v}"))
    }
}

fn run() -> Result<serde_json::Value, String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("stdin: {e}"))?;
    let doc: serde_json::Value = serde_json::from_str(&input).map_err(|e| format!("input: {e}"))?;
    let registry_file = doc
        .get("registry")
        .and_then(serde_json::Value::as_str)
        .ok_or("input has no 'registry'")?;
    let setting = doc.get("setting").ok_or("input has no 'setting'")?;
    let setting = ResolvedSetting {
        id: setting
            .get("id")
            .and_then(serde_json::Value::as_str)
            .ok_or("setting has no 'id'")?
            .to_string(),
        value: value(setting.get("value").ok_or("setting has no 'value'")?)?,
        group: None,
        csp_uri: None,
    };
    let emulated = Arc::new(
        EmulatedRegistry::open(std::path::Path::new(registry_file))
            .map_err(|e| format!("registry: {e}"))?,
    );
    let registry: Arc<dyn RegistryBackend> = Arc::new(DurableRegistry::new(emulated));
    let caps = Capabilities::none()
        .with_registry(registry.clone())
        .with_defender(Arc::new(SimulatedDefender::new(registry)));
    let host = NativeHost::for_plugin::<WindowsDefender>()
        .map_err(|e| format!("manifest: {e}"))?
        .with_capabilities(caps);
    let device = rampart_sdk::Device::from(&Device::example_windows_client());
    let outcome = host
        .apply::<WindowsDefender>(&device, &[rampart_sdk::Setting::from(&setting)])
        .pop()
        .ok_or("no outcome")?;
    let status = match outcome.status {
        SettingStatus::Compliant => "compliant",
        SettingStatus::Remediated => "remediated",
        _ => "error",
    };
    Ok(serde_json::json!({ "id": outcome.id, "status": status, "message": outcome.message }))
}

fn main() -> ExitCode {
    match run() {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rampart-bench-dsc-resource: {e}");
            ExitCode::FAILURE
        }
    }
}
