//! `sources.toml` is the plugin's mapping table as data: every location `src/mapping.rs` writes,
//! with the primary source that places it there. These tests keep the two in step, so a row
//! cannot be added, moved or renamed in the code without its source saying where it goes.

use std::collections::BTreeMap;

use rampart_plugin_windows_defender::mapping::{
    self, ATP, DEFENDER, FIREWALL, FIREWALL_PROFILE, LISTS, SECURITY_CENTER, SETTINGS,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sources {
    setting: Vec<Row>,
    family: Vec<Row>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    id: String,
    location: String,
    source: Option<String>,
    assumed: Option<String>,
}

/// The tags a source may cite (the file's header spells them out).
const TAGS: [&str; 4] = ["ADMX ", "WSC-ADMX ", "MS-GPFAS ", "EDR: "];

fn sources() -> Sources {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sources.toml"))
        .expect("sources.toml");
    toml::from_str(&text).unwrap_or_else(|e| panic!("sources.toml: {e}"))
}

fn full(root: &str, key: &str, value: &str) -> String {
    if key.is_empty() {
        format!(r"{root}\{value}")
    } else {
        format!(r"{root}\{key}\{value}")
    }
}

#[test]
fn every_single_value_setting_has_its_location_and_source() {
    let sources = sources();
    let rows: BTreeMap<&str, &Row> = sources
        .setting
        .iter()
        .map(|row| (row.id.as_str(), row))
        .collect();
    assert_eq!(rows.len(), sources.setting.len(), "an id is listed twice");
    for mapping in SETTINGS {
        let row = rows
            .get(mapping.id)
            .unwrap_or_else(|| panic!("{}: no row in sources.toml", mapping.id));
        assert_eq!(
            row.location,
            full(mapping.root, mapping.key, mapping.value_name),
            "{}: src/mapping.rs and sources.toml disagree",
            mapping.id
        );
    }
    for row in &sources.setting {
        assert!(
            mapping::find(&row.id).is_some(),
            "{}: in sources.toml but not mapped",
            row.id
        );
    }
}

#[test]
fn every_family_has_its_location_and_source() {
    let sources = sources();
    let family = |id: &str| {
        sources
            .family
            .iter()
            .find(|row| row.id == id)
            .unwrap_or_else(|| panic!("{id}: no family row in sources.toml"))
    };
    for (suffix, ..) in FIREWALL_PROFILE {
        let row = family(&format!(
            "vendor_msft_firewall_mdmstore_<profile>profile_{suffix}"
        ));
        let value = mapping::firewall_profile(&format!(
            "vendor_msft_firewall_mdmstore_domainprofile_{suffix}"
        ))
        .expect("mapped");
        let key = value.key.replacen("DomainProfile", "<Profile>", 1);
        assert_eq!(
            row.location,
            full(FIREWALL, &key, value.value_name),
            "{suffix}"
        );
    }
    for list in LISTS {
        let row = family(list.id);
        assert_eq!(
            row.location,
            full(DEFENDER, list.key, "<item>"),
            "{}",
            list.id
        );
    }
    let asr =
        family("device_vendor_msft_policy_config_defender_attacksurfacereductionrules_<rule>");
    assert_eq!(
        asr.location,
        full(DEFENDER, &format!(r"{}\Rules", mapping::ASR_KEY), "<guid>")
    );
    let per_rule = family(
        "device_vendor_msft_policy_config_defender_attacksurfacereductionrules_<rule>_perruleexclusions",
    );
    assert_eq!(
        per_rule.location,
        full(DEFENDER, mapping::ASR_PER_RULE_EXCLUSIONS_KEY, "<guid>")
    );
    let threats =
        family("device_vendor_msft_policy_config_defender_threatseveritydefaultaction_<level>");
    assert_eq!(
        threats.location,
        full(DEFENDER, mapping::THREAT_ACTIONS_KEY, "<level>")
    );
    let rules = family("vendor_msft_firewall_mdmstore_firewallrules_{firewallrulename}_<field>");
    assert_eq!(
        rules.location,
        full(FIREWALL, "FirewallRules", "<rule name>")
    );
    let expected = FIREWALL_PROFILE.len() + LISTS.len() + 4;
    assert_eq!(sources.family.len(), expected, "a family row maps nothing");
}

#[test]
fn every_row_cites_a_primary_source_or_says_what_it_assumes() {
    let sources = sources();
    for row in sources.setting.iter().chain(&sources.family) {
        match (&row.source, &row.assumed) {
            (Some(source), _) => assert!(
                TAGS.iter().any(|tag| source.starts_with(tag)) && source.len() > 8,
                "{}: source {source:?} cites none of {TAGS:?}",
                row.id
            ),
            (None, Some(assumed)) => assert!(assumed.len() > 30, "{}: {assumed:?}", row.id),
            (None, None) => panic!("{}: neither a source nor an assumption", row.id),
        }
        let root_known = [DEFENDER, SECURITY_CENTER, ATP, FIREWALL]
            .iter()
            .any(|root| row.location.starts_with(root));
        assert!(root_known, "{}: {}", row.id, row.location);
    }
}

#[test]
fn the_readme_names_every_defender_assumption() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let assumptions = readme
        .split_once("## Assumptions")
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
        .expect("the README has an Assumptions section");
    for row in sources().setting.iter().filter(|row| row.assumed.is_some()) {
        if row.location.starts_with(FIREWALL) {
            continue; // the firewall sections of the README state the store assumption
        }
        let value = row.location.rsplit('\\').next().unwrap_or_default();
        assert!(
            assumptions.contains(value),
            "{}: the README's Assumptions do not name {value}",
            row.id
        );
    }
}
