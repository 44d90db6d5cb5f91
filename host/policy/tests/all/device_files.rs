//! Device files in TOML and JSON, and their errors.

use rampart_policy::device::{
    Device, DeviceError, Platform, load_device_file, parse_device_json, parse_device_toml,
};

use crate::support::example_devices;

const SERVER: &str = r#"
id = "9d2f4c1a-7e3b-4a5c-8d6e-0f1a2b3c4d5e"
name = "DC-01"
platform = "windows-server"
os-version = "10.0.20348"
domain-controller = true
groups = ["11111111-2222-4333-8444-555555555555"]
"#;

#[test]
fn toml_and_json_files_load() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let toml_path = dir.path().join("dc-01.toml");
    std::fs::write(&toml_path, SERVER).expect("writable");
    let device = load_device_file(&toml_path).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(device.platform, Platform::WindowsServer);
    assert!(device.domain_controller);
    assert_eq!(
        device.channels,
        ["microsoftSense"],
        "channels default to MDE"
    );
    assert!(device.tags.is_empty());

    let json_path = dir.path().join("dc-01.json");
    std::fs::write(
        &json_path,
        serde_json::to_vec(&device).expect("serializable"),
    )
    .expect("writable");
    assert_eq!(
        load_device_file(&json_path).unwrap_or_else(|e| panic!("{e}")),
        device
    );
}

#[test]
fn the_example_device_is_a_windows_11_client() {
    let device = Device::example_windows_client();
    assert_eq!(device.platform, Platform::WindowsClient);
    assert_eq!(device.os_version, "10.0.22631");
    assert_eq!(device.channels, ["microsoftSense"]);
}

#[test]
fn an_unknown_key_is_an_error_naming_file_line_and_key() {
    let text = format!("{SERVER}colour = \"blue\"\n");
    let message = parse_device_toml(&text, "dc-01.toml")
        .expect_err("unknown key")
        .to_string();
    assert!(
        message.starts_with("device 'dc-01.toml': line 8 column 1: unknown field `colour`"),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");

    let message = parse_device_json(br#"{"id": "x", "colour": 1}"#, "d.json")
        .expect_err("unknown key")
        .to_string();
    assert!(
        message.starts_with("device 'd.json': line 1 column 20: unknown field `colour`"),
        "{message}"
    );
}

#[test]
fn missing_and_bad_values_are_errors() {
    let message = parse_device_toml("id = \"x\"\nname = \"n\"\nos-version = \"10\"\n", "d.toml")
        .expect_err("no platform")
        .to_string();
    assert!(message.starts_with("device 'd.toml': "), "{message}");
    assert!(message.contains("missing field `platform`"), "{message}");

    let text = SERVER.replace("windows-server", "windows");
    let message = parse_device_toml(&text, "d.toml")
        .expect_err("bad platform")
        .to_string();
    assert!(
        message.starts_with("device 'd.toml': line 4 column 12: unknown variant `windows`"),
        "{message}"
    );

    let text = SERVER.replace("10.0.20348", "");
    assert_eq!(
        parse_device_toml(&text, "d.toml")
            .expect_err("empty version")
            .to_string(),
        "device 'd.toml': field 'os-version' is empty"
    );
}

#[test]
fn other_extensions_are_refused() {
    let error = load_device_file(std::path::Path::new("device.yaml")).expect_err("yaml");
    assert!(matches!(error, DeviceError::UnsupportedFormat { .. }));
    assert_eq!(
        error.to_string(),
        "device 'device.yaml': unsupported file type, expected a .toml or .json file"
    );
}

/// What the example-device test compares: file, platform, domain controller, build, channels.
type DeviceFacts = (String, Platform, bool, Option<u32>, Vec<String>);

#[test]
fn the_example_devices_load_and_cover_every_platform_and_role() {
    let devices = example_devices();
    let summary: Vec<DeviceFacts> = devices
        .iter()
        .map(|(name, d)| {
            (
                name.clone(),
                d.platform,
                d.domain_controller,
                d.build(),
                d.channels.clone(),
            )
        })
        .collect();
    let sense = || vec!["microsoftSense".to_owned()];
    assert_eq!(
        summary,
        [
            (
                "domain-controller.toml".into(),
                Platform::WindowsServer,
                true,
                Some(20348),
                sense()
            ),
            ("macos.toml".into(), Platform::Macos, false, None, sense()),
            ("ubuntu.toml".into(), Platform::Linux, false, None, sense()),
            (
                "windows-11.toml".into(),
                Platform::WindowsClient,
                false,
                Some(22631),
                sense()
            ),
            (
                "windows-server-2022.toml".into(),
                Platform::WindowsServer,
                false,
                Some(20348),
                sense()
            ),
        ]
    );
    // Ids are distinct, so reports about several example devices never mix them up.
    let mut ids: Vec<&str> = devices.iter().map(|(_, d)| d.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), devices.len());
}

#[test]
fn os_build_is_read_and_checked_against_a_windows_version() {
    let device = parse_device_toml(&format!("{SERVER}os-build = 20348\n"), "d.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(device.os_build, Some(20348));
    assert_eq!(
        parse_device_toml(&format!("{SERVER}os-build = 22631\n"), "d.toml")
            .expect_err("mismatch")
            .to_string(),
        "device 'd.toml': os-build 22631 disagrees with os-version '10.0.20348'"
    );
    let linux =
        "id = \"l\"\nname = \"l\"\nplatform = \"linux\"\nos-version = \"22.04\"\nos-build = 7\n";
    assert_eq!(
        parse_device_toml(linux, "l.toml")
            .map(|d| d.build())
            .unwrap_or_else(|e| panic!("{e}")),
        Some(7),
        "an explicit build is kept on any platform"
    );
    let message = parse_device_toml(&format!("{SERVER}os-build = -1\n"), "d.toml")
        .expect_err("negative")
        .to_string();
    assert!(
        message.starts_with("device 'd.toml': line 8 column 12: "),
        "{message}"
    );
}

#[test]
fn only_a_windows_server_can_be_a_domain_controller() {
    let text = SERVER.replace("windows-server", "windows-client");
    let error = parse_device_toml(&text, "d.toml").expect_err("client DC");
    assert!(matches!(
        error,
        DeviceError::DomainControllerNotServer { .. }
    ));
    assert_eq!(
        error.to_string(),
        "device 'd.toml': domain-controller = true needs platform 'windows-server', not 'windows-client'"
    );
}
