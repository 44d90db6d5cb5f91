//! The identity of the device being configured: what the resolve stage needs to decide which
//! policies reach it (platform, OS version and build, role, Entra groups, tags, delivery
//! channels).
//!
//! On a real agent this comes from the machine and from Entra; for tests, demos and what-if runs
//! it comes from a device file, TOML (`.toml`) or JSON (`.json`), with kebab-case keys. Unknown
//! keys are errors, so a typo cannot silently leave a field at its default.
//!
//! | key | required | meaning |
//! |---|---|---|
//! | `id` | yes | the Entra device id (not empty) |
//! | `name` | yes | the device name |
//! | `platform` | yes | `windows-client`, `windows-server`, `linux` or `macos` |
//! | `os-version` | yes | the OS version as the OS reports it, e.g. `10.0.22631`, `22.04`, `14.5` (not empty) |
//! | `os-build` | no | the Windows build number, e.g. `22631`; when absent it is read from the third part of a Windows `os-version` (see [`Device::build`]) |
//! | `domain-controller` | no, default `false` | an Active Directory domain controller; needs `platform = "windows-server"` (firewall policies do not reach domain controllers) |
//! | `groups` | no, default `[]` | the Entra group ids the device is a member of, for assignment targeting |
//! | `tags` | no, default `[]` | Defender for Endpoint device tags, such as `MDE-Management` |
//! | `channels` | no, default `["microsoftSense"]` | the Graph `technologies` that deliver policy to the device; Defender for Endpoint security settings management is `microsoftSense` |
//!
//! A Windows 11 workstation (`examples/devices/windows-11.toml`; the same directory has a
//! Windows Server 2022 member server, a domain controller, an Ubuntu server and a Mac):
//!
//! ```toml
//! id = "3f1c2a9e-5b6d-4e7f-8a90-b1c2d3e4f506"   # Entra device id
//! name = "WS-FINANCE-07"
//! platform = "windows-client"                    # windows-client | windows-server | linux | macos
//! os-version = "10.0.22631"
//! os-build = 22631                               # optional; read from os-version when absent
//! domain-controller = false                      # optional, default false
//! groups = ["a1b2c3d4-0000-4000-8000-000000000001"]  # Entra group ids; optional, default []
//! tags = ["MDE-Management"]                      # MDE device tags; optional, default []
//! channels = ["microsoftSense"]                  # optional, default ["microsoftSense"]
//! ```
//!
//! A domain controller, in JSON:
//!
//! ```json
//! { "id": "9d2f4c1a-7e3b-4a5c-8d6e-0f1a2b3c4d5e", "name": "DC-01", "platform": "windows-server",
//!   "os-version": "10.0.20348", "domain-controller": true }
//! ```
//!
//! ```
//! # let text = r#"
//! # id = "3f1c2a9e-5b6d-4e7f-8a90-b1c2d3e4f506"
//! # name = "WS-FINANCE-07"
//! # platform = "windows-client"
//! # os-version = "10.0.22631"
//! # tags = ["MDE-Management"]
//! # "#;
//! use rampart_policy::device::{parse_device_json, parse_device_toml, Platform};
//!
//! let device = parse_device_toml(text, "ws-finance-07.toml")?;
//! assert_eq!(device.platform, Platform::WindowsClient);
//! assert_eq!(device.channels, ["microsoftSense"]);
//! assert_eq!(device.build(), Some(22631));
//!
//! let dc = parse_device_json(br#"{ "id": "9d2f4c1a-7e3b-4a5c-8d6e-0f1a2b3c4d5e", "name": "DC-01",
//!     "platform": "windows-server", "os-version": "10.0.20348", "domain-controller": true }"#,
//!     "dc-01.json")?;
//! assert!(dc.domain_controller && dc.platform.is_server());
//! # Ok::<(), rampart_policy::device::DeviceError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::text_position::{json_error_parts, toml_error_parts};

/// A device as the policy stages see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Device {
    /// The Entra device id.
    pub id: String,
    /// The device name.
    pub name: String,
    /// The operating system family and role.
    pub platform: Platform,
    /// The OS version, e.g. `10.0.22631` (Windows 11 23H2), `22.04` (Ubuntu) or `14.5` (macOS).
    pub os_version: String,
    /// The Windows build number, e.g. `22631`, when the file gives it; [`Device::build`] falls
    /// back to the third part of a Windows `os_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_build: Option<u32>,
    /// Whether the device is an Active Directory domain controller (they get no firewall policy).
    #[serde(default)]
    pub domain_controller: bool,
    /// The Entra groups the device belongs to, by group id.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Defender for Endpoint device tags, such as `MDE-Management`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The Graph `technologies` through which the device receives policy. A device managed by
    /// Defender for Endpoint security settings management receives `microsoftSense`.
    #[serde(default = "default_channels")]
    pub channels: Vec<String>,
}

fn default_channels() -> Vec<String> {
    vec!["microsoftSense".to_owned()]
}

/// The operating system family and role of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    /// Windows 10 or 11.
    WindowsClient,
    /// Windows Server.
    WindowsServer,
    /// Linux.
    Linux,
    /// macOS.
    Macos,
}

impl Platform {
    /// Whether this is a Windows platform (client or server).
    pub fn is_windows(self) -> bool {
        matches!(self, Platform::WindowsClient | Platform::WindowsServer)
    }

    /// Whether this is Windows Server (some ASR rules apply only to servers, some never do).
    pub fn is_server(self) -> bool {
        self == Platform::WindowsServer
    }

    /// The Graph `platforms` value policies for this device carry: `windows10` for both Windows
    /// kinds (Graph does not distinguish servers), `linux`, or `macOS`.
    pub fn graph_platform(self) -> &'static str {
        match self {
            Platform::WindowsClient | Platform::WindowsServer => "windows10",
            Platform::Linux => "linux",
            Platform::Macos => "macOS",
        }
    }

    /// The device-file spelling, e.g. `windows-client`.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::WindowsClient => "windows-client",
            Platform::WindowsServer => "windows-server",
            Platform::Linux => "linux",
            Platform::Macos => "macos",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Device {
    /// A simulated Windows 11 23H2 workstation (OS 10.0.22631), managed through Defender for
    /// Endpoint, in no groups. Demos and tests start from it.
    pub fn example_windows_client() -> Device {
        Device {
            id: "00000000-0000-4000-8000-00000000a11c".to_owned(),
            name: "RAMPART-SIM-WIN11".to_owned(),
            platform: Platform::WindowsClient,
            os_version: "10.0.22631".to_owned(),
            os_build: None,
            domain_controller: false,
            groups: Vec::new(),
            tags: vec!["MDE-Management".to_owned()],
            channels: default_channels(),
        }
    }

    /// The Windows build number: `os_build` when set, else the third dot-separated part of a
    /// Windows `os_version` (`10.0.20348` → 20348, `10.0.22631.4460` → 22631). `None` for Linux
    /// and macOS without an explicit `os_build`, and for versions that do not have that shape.
    pub fn build(&self) -> Option<u32> {
        self.os_build.or_else(|| {
            if self.platform.is_windows() {
                windows_build(&self.os_version)
            } else {
                None
            }
        })
    }
}

/// The build part of a Windows version string `major.minor.build[.revision]`.
fn windows_build(version: &str) -> Option<u32> {
    version.trim().split('.').nth(2)?.parse().ok()
}

impl Device {
    /// A builder for a device made in code (an agent that knows the device from its own
    /// inventory): id, platform and OS version are required, the rest defaults as in a device
    /// file. [`DeviceBuilder::build`] makes the same checks as reading a file.
    pub fn builder(
        id: impl Into<String>,
        platform: Platform,
        os_version: impl Into<String>,
    ) -> DeviceBuilder {
        DeviceBuilder {
            device: Device {
                id: id.into(),
                name: String::new(),
                platform,
                os_version: os_version.into(),
                os_build: None,
                domain_controller: false,
                groups: Vec::new(),
                tags: Vec::new(),
                channels: default_channels(),
            },
        }
    }

    /// Checks the device as reading a device file does (non-empty id and OS version, a domain
    /// controller only on Windows Server, an `os_build` that agrees with the OS version), for a
    /// device made or changed in code; `origin` names it in the error.
    ///
    /// # Errors
    ///
    /// The first check that fails.
    pub fn validate(&self, origin: &str) -> Result<(), DeviceError> {
        validate(self.clone(), origin).map(|_| ())
    }
}

/// Builds a [`Device`] in code; see [`Device::builder`].
#[derive(Debug, Clone)]
#[must_use = "a device is made by `build`"]
pub struct DeviceBuilder {
    device: Device,
}

impl DeviceBuilder {
    /// The device name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.device.name = name.into();
        self
    }

    /// The Windows build number, when known apart from the OS version.
    pub fn os_build(mut self, build: u32) -> Self {
        self.device.os_build = Some(build);
        self
    }

    /// Marks the device an Active Directory domain controller (Windows Server only).
    pub fn domain_controller(mut self, yes: bool) -> Self {
        self.device.domain_controller = yes;
        self
    }

    /// The Entra groups the device belongs to, by group id.
    pub fn groups(mut self, groups: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.device.groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// Defender for Endpoint device tags.
    pub fn tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.device.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// The Graph `technologies` the device receives policy through (default
    /// `microsoftSense`).
    pub fn channels(mut self, channels: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.device.channels = channels.into_iter().map(Into::into).collect();
        self
    }

    /// The device, checked as a device file is.
    ///
    /// # Errors
    ///
    /// As [`Device::validate`], naming the device `origin`.
    pub fn build(self, origin: &str) -> Result<Device, DeviceError> {
        validate(self.device, origin)
    }
}

/// Why a device file could not be read. Every message is one line naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The file could not be read.
    #[error("device '{}': cannot read file: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file name does not end in `.toml` or `.json`.
    #[error("device '{origin}': unsupported file type, expected a .toml or .json file")]
    UnsupportedFormat {
        /// The file.
        origin: String,
    },
    /// The text is not a device description (bad syntax, unknown or missing key, bad value).
    #[error("device '{origin}': line {line} column {column}: {message}")]
    Parse {
        /// The file or label.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// A field holds a value the policy stages cannot use.
    #[error("device '{origin}': field '{field}' is empty")]
    EmptyField {
        /// The file or label.
        origin: String,
        /// The field, as spelled in the file.
        field: &'static str,
    },
    /// `domain-controller = true` on a platform other than Windows Server.
    #[error(
        "device '{origin}': domain-controller = true needs platform 'windows-server', not '{platform}'"
    )]
    DomainControllerNotServer {
        /// The file or label.
        origin: String,
        /// The platform the file gives.
        platform: Platform,
    },
    /// `os-build` and the build part of a Windows `os-version` differ.
    #[error("device '{origin}': os-build {build} disagrees with os-version '{version}'")]
    BuildMismatch {
        /// The file or label.
        origin: String,
        /// The `os-build` value.
        build: u32,
        /// The `os-version` value.
        version: String,
    },
}

/// Reads a device file, choosing TOML or JSON by its extension.
///
/// # Errors
///
/// [`DeviceError::UnsupportedFormat`] for another extension, [`DeviceError::Io`] when the file
/// cannot be read, otherwise as [`parse_device_toml`] / [`parse_device_json`].
pub fn load_device_file(path: &Path) -> Result<Device, DeviceError> {
    let origin = path.display().to_string();
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    let is_toml = match extension.as_deref() {
        Some("toml") => true,
        Some("json") => false,
        _ => return Err(DeviceError::UnsupportedFormat { origin }),
    };
    let read_error = |source| DeviceError::Io {
        path: path.to_path_buf(),
        source,
    };
    if is_toml {
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        parse_device_toml(&text, &origin)
    } else {
        let bytes = std::fs::read(path).map_err(read_error)?;
        parse_device_json(&bytes, &origin)
    }
}

/// Parses a TOML device description; `origin` names it in errors.
///
/// # Errors
///
/// [`DeviceError::Parse`] for bad TOML, an unknown or missing key or a bad value;
/// [`DeviceError::EmptyField`] for an empty `id` or `os-version`;
/// [`DeviceError::DomainControllerNotServer`] for a domain controller that is not a Windows
/// Server; [`DeviceError::BuildMismatch`] when `os-build` contradicts a Windows `os-version`.
pub fn parse_device_toml(text: &str, origin: &str) -> Result<Device, DeviceError> {
    let device: Device = toml::from_str(text).map_err(|error| {
        let (line, column, message) = toml_error_parts(&error, text);
        DeviceError::Parse {
            origin: origin.to_owned(),
            line,
            column,
            message,
        }
    })?;
    validate(device, origin)
}

/// Parses a JSON device description (same keys as TOML); `origin` names it in errors.
///
/// # Errors
///
/// As [`parse_device_toml`].
pub fn parse_device_json(bytes: &[u8], origin: &str) -> Result<Device, DeviceError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let device: Device = serde_json::from_slice(bytes).map_err(|error| {
        let (line, column, message) = json_error_parts(&error);
        DeviceError::Parse {
            origin: origin.to_owned(),
            line,
            column,
            message,
        }
    })?;
    validate(device, origin)
}

fn validate(device: Device, origin: &str) -> Result<Device, DeviceError> {
    let empty = |field| DeviceError::EmptyField {
        origin: origin.to_owned(),
        field,
    };
    // Targeting keys on the id and OS-version rules compare against os-version: an empty one is a
    // mistake in the file, not a device.
    if device.id.trim().is_empty() {
        return Err(empty("id"));
    }
    if device.os_version.trim().is_empty() {
        return Err(empty("os-version"));
    }
    // Only Windows Server can be a domain controller; anything else is a typo in the file, and
    // taking it at its word would silently withhold firewall policy from a client.
    if device.domain_controller && device.platform != Platform::WindowsServer {
        return Err(DeviceError::DomainControllerNotServer {
            origin: origin.to_owned(),
            platform: device.platform,
        });
    }
    if let Some(build) = device.os_build
        && device.platform.is_windows()
        && windows_build(&device.os_version).is_some_and(|from_version| from_version != build)
    {
        return Err(DeviceError::BuildMismatch {
            origin: origin.to_owned(),
            build,
            version: device.os_version,
        });
    }
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_built_in_code_is_checked_as_a_file_is() {
        let device = Device::builder("d-1", Platform::WindowsServer, "10.0.20348")
            .name("dc-01")
            .domain_controller(true)
            .tags(["MDE-Management"])
            .build("inventory")
            .unwrap();
        assert_eq!(device.channels, ["microsoftSense"]);
        assert_eq!(device.build(), Some(20348));
        let err = Device::builder("d-2", Platform::WindowsClient, "10.0.22631")
            .domain_controller(true)
            .build("inventory")
            .unwrap_err();
        assert!(
            matches!(err, DeviceError::DomainControllerNotServer { .. }),
            "{err}"
        );
        let err = Device::builder(" ", Platform::Linux, "22.04")
            .build("inventory")
            .unwrap_err();
        assert_eq!(err.to_string(), "device 'inventory': field 'id' is empty");
        let mut changed = device.clone();
        changed.os_build = Some(1);
        assert!(matches!(
            changed.validate("changed"),
            Err(DeviceError::BuildMismatch { .. })
        ));
    }

    #[test]
    fn platform_names_round_trip_through_serde() {
        for platform in [
            Platform::WindowsClient,
            Platform::WindowsServer,
            Platform::Linux,
            Platform::Macos,
        ] {
            let json = serde_json::to_string(&platform).expect("serializable");
            assert_eq!(json, format!("\"{platform}\""));
        }
        assert_eq!(Platform::WindowsServer.graph_platform(), "windows10");
        assert_eq!(Platform::Macos.graph_platform(), "macOS");
        assert!(Platform::WindowsServer.is_windows());
        assert!(!Platform::Linux.is_windows());
    }

    #[test]
    fn the_build_comes_from_os_build_or_the_windows_version() {
        let mut device = Device::example_windows_client();
        assert_eq!(device.build(), Some(22631));
        device.os_version = "10.0.20348.2655".into();
        assert_eq!(device.build(), Some(20348));
        device.os_build = Some(20349);
        assert_eq!(device.build(), Some(20349));
        device.platform = Platform::Linux;
        device.os_build = None;
        device.os_version = "22.04.4".into();
        assert_eq!(device.build(), None, "a Linux version has no Windows build");
    }

    #[test]
    fn the_example_device_survives_a_toml_round_trip() {
        let device = Device::example_windows_client();
        let text = toml::to_string(&device).expect("serializable");
        assert_eq!(
            parse_device_toml(&text, "example.toml").expect("valid"),
            device
        );
    }
}
