//! Runs one capability call per setting, exactly as the setting describes it, so a test can try
//! every escape trick through the real registry and files capabilities. The setting's value is a
//! text list `[operation, target, argument...]`:
//!
//! - `reg-get key name`, `reg-set key name`, `reg-delete-value key name`, `reg-create key`,
//!   `reg-delete-key key`, `reg-list-values key`, `reg-list-subkeys key`
//! - `file-read root path`, `file-write root path contents`, `file-remove root path`,
//!   `file-list root path`
//!
//! A call that succeeds is `remediated`, with what it returned as the message (file contents,
//! listed names). A call that fails is `error` with the capability error's kind as its code
//! (see [`kind_code`]), so tests match the typed error rather than its text.
//!
//! Its grants: read-write on `HKLM\SOFTWARE\Policies\Rampart Test`, read on
//! `HKLM\SOFTWARE\Policies\Rampart ReadOnly`, read-write on file root `sandbox`, read on file
//! root `readonly`.

use rampart_sdk::{CapabilityError, Device, Plugin, Setting, SettingResult, files, registry};

struct Escape;

/// The code reported for each kind of capability error.
fn kind_code(e: &CapabilityError) -> i32 {
    match e {
        CapabilityError::AccessDenied(_) => 1,
        CapabilityError::InvalidArgument(_) => 2,
        CapabilityError::NotFound(_) => 3,
        CapabilityError::TamperProtected(_) => 4,
        CapabilityError::Unavailable(_) => 5,
        CapabilityError::Failed(_) => 6,
    }
}

fn call(op: &str, args: &[String]) -> Result<String, CapabilityError> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    match op {
        "reg-get" => registry::get(arg(0), arg(1)).map(|v| format!("{v:?}")),
        "reg-set" => {
            registry::set(arg(0), arg(1), &registry::RegValue::Dword(1)).map(|()| "set".into())
        }
        "reg-delete-value" => registry::delete_value(arg(0), arg(1)).map(|b| b.to_string()),
        "reg-create" => registry::create_key(arg(0)).map(|()| "created".into()),
        "reg-delete-key" => registry::delete_key(arg(0)).map(|b| b.to_string()),
        "reg-list-values" => registry::list_values(arg(0)).map(|vs| {
            vs.iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .join(",")
        }),
        "reg-list-subkeys" => registry::list_subkeys(arg(0)).map(|ks| ks.join(",")),
        "file-read" => {
            files::read(arg(0), arg(1)).map(|b| String::from_utf8_lossy(&b).into_owned())
        }
        "file-write" => files::write(arg(0), arg(1), arg(2).as_bytes()).map(|()| "written".into()),
        "file-remove" => files::remove(arg(0), arg(1)).map(|b| b.to_string()),
        "file-list" => files::list(arg(0), arg(1)).map(|es| {
            es.iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(",")
        }),
        other => Err(CapabilityError::InvalidArgument(format!(
            "unknown operation {other}"
        ))),
    }
}

impl Plugin for Escape {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        settings
            .iter()
            .map(|s| match s.value.as_text_list() {
                Some([op, args @ ..]) => match call(op, args) {
                    Ok(message) => SettingResult {
                        message: Some(message),
                        ..s.remediated()
                    },
                    Err(e) => s.error_with_code(e.message(), kind_code(&e)),
                },
                _ => s.error("expected [operation, target, argument...]"),
            })
            .collect()
    }
}

rampart_sdk::export_plugin!(
    Escape,
    manifest = r#"
[plugin]
name = "hostile-escape"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart Test'
access = "read-write"

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart ReadOnly'
access = "read"

[[grants.files]]
root = "sandbox"
access = "read-write"

[[grants.files]]
root = "readonly"
access = "read"
"#
);
