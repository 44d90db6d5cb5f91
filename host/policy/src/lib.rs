//! rampart's policy stages: the pure-Rust half of the pipeline that turns Intune endpoint-security
//! policies into typed settings for the enforcement plugins.
//!
//! Nothing here touches wasmtime, the registry or the network, so the crate compiles fast, fuzzes
//! well and can be reused by a management server. The modules follow the pipeline:
//!
//! - [`graph`]: the Microsoft Graph `deviceManagement/configurationPolicies` model and its parser:
//!   one policy per file or many (Graph list responses, JSON arrays), bare or in CIPP wrappers,
//!   in UTF-8 or UTF-16, with `@odata.*` annotations and PowerShell dates.
//! - [`catalog`]: settings-catalog definitions, which say what each option itemId stands for.
//!   Embedded catalogs for Windows Defender, Linux and macOS ship with the crate.
//! - [`device`]: the identity of the device being configured (platform, OS version and build,
//!   domain controller, groups, tags, channels).
//! - [`targeting`]: whether a policy's assignments reach the device.
//! - [`applicability`]: whether a policy, and each of its settings, applies to the device
//!   (channel, platform, template, server versus client, domain controllers).
//! - [`settings`]: flattening a policy's setting tree into the typed values plugins receive.
//! - [`resolve`](mod@resolve): all of the above for a set of policies and one device, plus merging
//!   by the catalog's merge rules (AV exclusions, ASR rules, firewall rules, Linux and macOS
//!   exclusions) and conflicts: what to enforce and what to withhold, and why.
//! - [`status`]: Intune's status vocabulary, per setting, per policy and per device.
//!
//! ```
//! use rampart_policy::{catalog::Catalog, graph::parse_policy, settings::flatten};
//!
//! let json = br##"{
//!   "id": "p1", "name": "AV", "platforms": "windows10", "technologies": "mdm,microsoftSense",
//!   "settings": [{ "id": "0", "settingInstance": {
//!     "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
//!     "settingDefinitionId": "device_vendor_msft_policy_config_defender_allowrealtimemonitoring",
//!     "choiceSettingValue": {
//!       "value": "device_vendor_msft_policy_config_defender_allowrealtimemonitoring_1",
//!       "children": [] } } }]
//! }"##;
//! let doc = parse_policy(json, "example.json")?;
//! let settings = flatten(&doc, &Catalog::embedded());
//! let first = settings[0].as_ref().expect("the embedded catalog knows this setting");
//! assert_eq!(first.value, rampart_policy::settings::SettingValue::Integer(1));
//! # Ok::<(), rampart_policy::graph::PolicyError>(())
//! ```

#![deny(missing_docs)]

pub mod applicability;
pub mod catalog;
pub mod device;
pub mod graph;
pub mod resolve;
pub mod settings;
pub mod status;
pub mod targeting;

mod json_path;
mod text_position;

pub use applicability::{NotApplicable, Template};
pub use catalog::{
    Catalog, CatalogError, CatalogProblem, Definition, DefinitionKind, MergeRule, OptionValue,
};
pub use device::{Device, DeviceBuilder, DeviceError, Platform};
pub use graph::{
    Assignment, AssignmentTarget, ChoiceItem, Layout, Note, ParseProblem, PolicyDocument,
    PolicyError, PolicyFile, Secret, SettingInstance, SimpleValue, TemplateReference,
    load_policies, load_policy_file, parse_policies, parse_policy,
};
pub use resolve::{Disposition, Entry, ResolvedPolicy, resolve};
pub use settings::{
    GroupPosition, ProblemKind, ResolvedSetting, SettingProblem, SettingValue, flatten,
};
pub use status::{DeviceSummary, PolicyStatus, SettingStatus, aggregate};
pub use targeting::NotAssigned;
