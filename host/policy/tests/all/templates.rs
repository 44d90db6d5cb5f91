//! The applicability facts against the shared tables they come from: the template list
//! (`endpoint-security-templates.csv`) and the server/client notes of `asr-rules.csv`.

use rampart_policy::applicability::{TEMPLATES, check_setting, find_template};
use rampart_policy::catalog::Catalog;

use crate::support::{example_device, read_csv, shared_data};

#[test]
fn the_template_table_matches_the_shared_csv() {
    let rows = read_csv(&shared_data().join("endpoint-security-templates.csv"));
    let mut known = 0;
    for row in &rows {
        let id = &row["template_id"];
        let template = if id.ends_with("_1") {
            find_template(id).unwrap_or_else(|| panic!("{id} is not in TEMPLATES"))
        } else {
            // The Linux Global Exclusions profile: the CSV has no template id for it, TEMPLATES
            // takes Microsoft365DSC's. Found by name instead, and the id is that one.
            assert_eq!(id, "(unknown)", "{row:?}");
            let template = TEMPLATES
                .iter()
                .find(|t| {
                    t.name == row["template_display_name"] && t.platform == row["graph_platforms"]
                })
                .unwrap_or_else(|| panic!("{row:?} is not in TEMPLATES"));
            assert_eq!(
                find_template("dfa57610-d11d-4bf8-89d6-1f5cb1679506_1"),
                Some(template)
            );
            template
        };
        known += 1;
        assert_eq!(template.platform, row["graph_platforms"], "{id}");
        assert_eq!(template.name, row["template_display_name"], "{id}");
        assert_eq!(
            template.supported,
            row["supported_by_security_settings_management"].starts_with("yes"),
            "{id}"
        );
        assert_eq!(
            template.firewall,
            row["template_family"] == "endpointSecurityFirewall",
            "{id}"
        );
    }
    assert_eq!(TEMPLATES.len(), known, "TEMPLATES has rows the CSV lacks");
}

#[test]
fn server_and_client_asr_rules_follow_the_shared_notes() {
    let rows = read_csv(&shared_data().join("asr-rules.csv"));
    assert_eq!(rows.len(), 19);
    let catalog = Catalog::embedded();
    let client = example_device("windows-11.toml");
    let server = example_device("windows-server-2022.toml");
    for row in &rows {
        let notes = &row["notes"];
        let server_only = notes.contains("Exchange Server role only");
        let client_only = notes.contains("Not supported on Windows Server");
        for id in [
            &row["settings_catalog_id"],
            &row["per_rule_exclusions_setting_id"],
        ] {
            if id.is_empty() {
                continue;
            }
            let on_client = check_setting(id, &client, catalog.get(id));
            let on_server = check_setting(id, &server, catalog.get(id));
            assert_eq!(
                on_client.is_ok(),
                !server_only,
                "{id} on a client: {on_client:?}"
            );
            assert_eq!(
                on_server.is_ok(),
                !client_only,
                "{id} on a server: {on_server:?}"
            );
            for reason in [on_client, on_server].into_iter().filter_map(Result::err) {
                assert!(
                    reason
                        .to_string()
                        .contains(&row["guid"].to_ascii_lowercase()),
                    "{id}: the reason names the rule GUID: {reason}"
                );
            }
        }
    }
}
