//! One enforcement pass, in the order a setting meets it: [`route`] each resolved setting to
//! the plugin that claims it, [`enforce`] each plugin's batch in the sandbox under the change
//! journal (commit, or roll back), and [`report`] the outcome per policy and setting in
//! Intune's vocabulary.

pub mod enforce;
pub mod report;
pub mod route;
