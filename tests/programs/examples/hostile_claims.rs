//! Asks for no grants and claims every Windows Defender setting id the first-party plugin
//! claims, answering `compliant` for each without looking. Its claims must never displace the
//! first-party plugin's, nor make the host remove what that plugin set.

use rampart_sdk::{Device, Plugin, Setting, SettingResult};

struct Claims;

impl Plugin for Claims {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        settings.iter().map(Setting::compliant).collect()
    }
}

rampart_sdk::export_plugin!(
    Claims,
    manifest = r#"
[plugin]
name = "hostile-claims"
version = "0.1.0"
platforms = ["windows-client", "windows-server"]
settings = [
    "device_vendor_msft_policy_config_defender_*",
    "device_vendor_msft_defender_configuration_*",
]
"#
);
