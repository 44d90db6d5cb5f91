//! Golden files: what each shared Intune export resolves to, with the embedded catalog, on each
//! example device of the export's platform.
//!
//! The files live in `tests/golden/<export file stem>.txt`. A run compares; a run with
//! `RAMPART_BLESS=1` rewrites them (review the diff before committing). An export without a
//! golden file, or a golden file without an export, fails the comparison.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rampart_policy::catalog::Catalog;
use rampart_policy::device::Device;
use rampart_policy::graph::{PolicyDocument, SettingInstance, SimpleValue, load_policy_file};
use rampart_policy::resolve::{Disposition, Entry, resolve};
use rampart_policy::settings::GroupPosition;

use crate::support::{all_exports, example_devices};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn blessing() -> bool {
    std::env::var_os("RAMPART_BLESS").is_some_and(|value| value == "1")
}

fn group_label(group: &Option<GroupPosition>) -> String {
    group
        .as_ref()
        .map(|g| format!(" [{} #{}]", g.definition_id, g.index))
        .unwrap_or_default()
}

fn entry_line(entry: &Entry) -> String {
    let group = group_label(&entry.group);
    match &entry.disposition {
        Disposition::Enforce(setting) => format!("{}{group} = {}", entry.id, setting.value),
        Disposition::Withheld { status, message } => {
            format!("{}{group} | {status}: {message}", entry.id)
        }
    }
}

/// The golden text for one export.
fn render(file_name: &str, doc: &PolicyDocument, devices: &[(String, Device)]) -> String {
    let catalog = Catalog::embedded();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# What `{file_name}` (../shared/data/intune-exports)\n\
         # resolves to with the embedded catalog on each example device (examples/devices) of\n\
         # its platform.\n\
         # Regenerate: RAMPART_BLESS=1 cargo test -p rampart-policy --test all golden\n\
         # Lines: `id [group #item] = value` (enforced), `id [group #item] | status: message`\n\
         # (withheld). Secrets show as <redacted>."
    );
    let template = doc.template.as_ref().map_or("none".to_owned(), |t| {
        format!(
            "{} ({})",
            t.template_id,
            t.display_name.as_deref().unwrap_or("no display name")
        )
    });
    let _ = writeln!(out, "\npolicy '{}' (id '{}')", doc.name, doc.id);
    let _ = writeln!(
        out,
        "platforms {}; technologies {}; template {template}",
        doc.platforms,
        doc.technologies.join(",")
    );
    for (name, device) in devices {
        let resolved = resolve(std::slice::from_ref(doc), device, &catalog);
        let Some(policy) = resolved.first() else {
            panic!("resolve returned nothing for {file_name}");
        };
        let _ = writeln!(
            out,
            "\n## {name} ({} {}{})",
            device.platform,
            device.os_version,
            if device.domain_controller {
                ", domain controller"
            } else {
                ""
            }
        );
        let verdict = match (&policy.not_assigned, &policy.not_applicable) {
            (Some(reason), _) | (None, Some(reason)) => reason.clone(),
            (None, None) => "applies".to_owned(),
        };
        let enforced = policy
            .entries
            .iter()
            .filter(|e| matches!(e.disposition, Disposition::Enforce(_)))
            .count();
        let _ = writeln!(out, "policy: {verdict}");
        let _ = writeln!(
            out,
            "entries: {} ({enforced} to enforce, {} withheld)",
            policy.entries.len(),
            policy.entries.len() - enforced
        );
        for entry in &policy.entries {
            let _ = writeln!(out, "{}", entry_line(entry));
        }
    }
    out
}

/// The devices an export is shown on: the example devices of its platform (all of them when
/// none matches, so an export for an unexpected platform still shows why it does not apply).
fn devices_for(doc: &PolicyDocument) -> Vec<(String, Device)> {
    let all = example_devices();
    let matching: Vec<(String, Device)> = all
        .iter()
        .filter(|(_, device)| {
            device
                .platform
                .graph_platform()
                .eq_ignore_ascii_case(&doc.platforms)
        })
        .cloned()
        .collect();
    if matching.is_empty() { all } else { matching }
}

/// Every secret value in a document's tree.
fn secrets(instances: &[SettingInstance], out: &mut Vec<String>) {
    for instance in instances {
        match instance {
            SettingInstance::Simple {
                value: SimpleValue::Secret(secret),
                ..
            } => out.push(secret.expose().to_owned()),
            SettingInstance::Simple { .. } => {}
            SettingInstance::SimpleCollection { values, .. } => {
                for value in values {
                    if let SimpleValue::Secret(secret) = value {
                        out.push(secret.expose().to_owned());
                    }
                }
            }
            SettingInstance::Choice { children, .. } | SettingInstance::Group { children, .. } => {
                secrets(children, out);
            }
            SettingInstance::ChoiceCollection { values, .. } => {
                for item in values {
                    secrets(&item.children, out);
                }
            }
            SettingInstance::GroupCollection { items, .. } => {
                for children in items {
                    secrets(children, out);
                }
            }
        }
    }
}

#[test]
fn golden_every_export_resolves_as_recorded() {
    let dir = golden_dir();
    let bless = blessing();
    if bless {
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    let mut expected_files = Vec::new();
    let mut failures = Vec::new();
    for path in all_exports() {
        let doc = load_policy_file(&path).unwrap_or_else(|error| panic!("{error}"));
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = render(&file_name, &doc, &devices_for(&doc));

        let mut hidden = Vec::new();
        secrets(&doc.settings, &mut hidden);
        for secret in hidden {
            assert!(
                !text.contains(&secret),
                "{file_name}: a secret leaked into the golden text"
            );
        }

        let golden = dir.join(format!("{stem}.txt"));
        expected_files.push(format!("{stem}.txt"));
        if bless {
            std::fs::write(&golden, &text)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", golden.display()));
            continue;
        }
        let Ok(recorded) = std::fs::read_to_string(&golden) else {
            failures.push(format!(
                "{} is missing; run with RAMPART_BLESS=1 to create it",
                golden.display()
            ));
            continue;
        };
        if recorded != text {
            let line = recorded
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| recorded.lines().count().min(text.lines().count()));
            failures.push(format!(
                "{} differs at line {}:\n  recorded: {}\n  now:      {}\n(run with RAMPART_BLESS=1 \
                 to accept the new output, then review the diff)",
                golden.display(),
                line + 1,
                recorded.lines().nth(line).unwrap_or("<end of file>"),
                text.lines().nth(line).unwrap_or("<end of file>"),
            ));
        }
    }

    // A golden file whose export is gone is stale.
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".txt"))
        .collect();
    present.sort();
    expected_files.sort();
    if bless {
        for stale in present.iter().filter(|name| !expected_files.contains(name)) {
            let path = dir.join(stale);
            std::fs::remove_file(&path)
                .unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
        }
    } else if present != expected_files {
        failures.push(format!(
            "golden files {present:?} do not match the exports {expected_files:?}"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
