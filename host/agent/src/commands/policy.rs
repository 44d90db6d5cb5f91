//! `rampart policy show|check`: explain policy documents without enforcing anything.
//!
//! Routing is decided from the plugins' manifests alone (read from the `.wasm` custom
//! sections), so these commands compile nothing and touch no state.

use std::path::{Path, PathBuf};

use rampart_policy::catalog::Catalog;
use rampart_policy::device::Platform;
use rampart_policy::graph;
use rampart_policy::resolve::{Disposition, resolve};
use rampart_policy::settings::{ResolvedSetting, flatten};
use rampart_runtime::Manifest;

use crate::output::safe;
use crate::{BadInput, exit, inputs};

/// The manifests of the embedded plugins and of `--plugins DIR` (directory ones override).
fn manifests(dir: Option<&Path>) -> anyhow::Result<Vec<Manifest>> {
    let mut out: Vec<Manifest> = Vec::new();
    let mut add = |origin: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let sections = rampart_runtime::manifest::read_sections(bytes)
            .map_err(|e| BadInput(format!("plugin '{origin}': {e}")))?;
        let manifest = Manifest::parse(&sections.manifest)
            .map_err(|e| BadInput(format!("plugin '{origin}': {e}")))?;
        out.retain(|m| m.name != manifest.name);
        out.push(manifest);
        Ok(())
    };
    for (name, bytes) in rampart_plugin_artifacts::FIRST_PARTY {
        add(&format!("embedded:{name}"), bytes)?;
    }
    if let Some(dir) = dir {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| BadInput(format!("plugin directory '{}': {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        files.sort();
        for f in files {
            let bytes = rampart_runtime::plugin::read_plugin_file(&f)
                .map_err(|e| BadInput(format!("plugin '{}': {e}", f.display())))?;
            add(&f.display().to_string(), &bytes)?;
        }
    }
    Ok(out)
}

/// Which plugin enforces `setting` on `platform`, as a phrase.
/// Where a setting would go, by the plugins' manifests: a first-party plugin's claim stands
/// before another plugin's (the grants file's assignments, which `apply` and `run` also honour,
/// are not considered here).
fn route(manifests: &[Manifest], platform: Platform, setting: &ResolvedSetting) -> String {
    let first_party = |name: &str| {
        rampart_plugin_artifacts::FIRST_PARTY
            .iter()
            .any(|(n, _)| *n == name)
    };
    let claimants: Vec<&str> = manifests
        .iter()
        .filter(|m| m.platforms.contains(&platform) && m.claims(&setting.id))
        .map(|m| m.name.as_str())
        .collect();
    let (standing, overruled): (Vec<&str>, Vec<&str>) = if claimants.iter().any(|n| first_party(n))
    {
        claimants.iter().partition(|n| first_party(n))
    } else {
        (claimants, Vec::new())
    };
    let overruled = if overruled.is_empty() {
        String::new()
    } else {
        format!(" (overrules {})", overruled.join(", "))
    };
    match standing.as_slice() {
        [] => format!("no plugin enforces it on {platform}"),
        [one] => format!("→ {one}{overruled}"),
        many => format!("claimed by several plugins: {}", many.join(", ")),
    }
}

/// `rampart policy show FILE`: for every policy of the file (one, or each element of a Graph
/// list or JSON array), each setting's id, typed value, and the plugin that will enforce it on
/// the policy's platform. The file's notes (more pages of a Graph list, no policy at all) are
/// printed first.
pub(crate) fn show(
    file: &Path,
    catalog: Option<&Path>,
    plugins: Option<&Path>,
) -> anyhow::Result<u8> {
    let read = graph::load_policies(file).map_err(|e| BadInput(e.to_string()))?;
    let catalog = inputs::catalog(catalog)?;
    let manifests = manifests(plugins)?;
    if read.layout != graph::Layout::Single {
        let count = match read.documents.len() {
            1 => "1 policy".to_owned(),
            n => format!("{n} policies"),
        };
        println!(
            "File    {}: {} ({count})",
            safe(&file.display().to_string()),
            read.layout,
        );
    }
    for note in &read.notes {
        println!("Note: {}", safe(&note.to_string()));
    }
    let listed = read.layout != graph::Layout::Single;
    for doc in &read.documents {
        if listed {
            println!();
        }
        show_document(doc, listed, &catalog, &manifests);
    }
    Ok(exit::OK)
}

/// One policy of `policy show`; an element of a list is named by its origin (`file#value[2]`).
fn show_document(
    doc: &graph::PolicyDocument,
    listed: bool,
    catalog: &Catalog,
    manifests: &[Manifest],
) {
    let platform = match doc.platforms.to_ascii_lowercase().as_str() {
        "linux" => Platform::Linux,
        "macos" => Platform::Macos,
        _ => Platform::WindowsClient,
    };
    if listed {
        println!(
            "Policy  {} ({})  ({})",
            safe(&doc.name),
            safe(&doc.id),
            safe(&doc.origin)
        );
    } else {
        println!("Policy  {} ({})", safe(&doc.name), safe(&doc.id));
    }
    println!(
        "        platforms {}, technologies {}, template {}",
        safe(&doc.platforms),
        safe(&doc.technologies.join(",")),
        safe(
            doc.template
                .as_ref()
                .map_or("(none)", |t| t.template_id.as_str())
        )
    );
    for outcome in flatten(doc, catalog) {
        match outcome {
            Ok(s) => {
                let group = s
                    .group
                    .as_ref()
                    .map(|g| format!(" [item {}]", g.index))
                    .unwrap_or_default();
                println!(
                    "  {}{group} = {}  {}",
                    safe(&s.id),
                    safe(&s.value.to_string()),
                    route(manifests, platform, &s)
                );
            }
            Err(problem) => println!("  {}", safe(&problem.to_string())),
        }
    }
}

/// `rampart policy check PATH... [--device FILE]`: resolve for the device without enforcing:
/// applicability, targeting, merges and conflicts, and where each setting would go.
pub(crate) fn check(
    paths: &[PathBuf],
    device: Option<&Path>,
    catalog: Option<&Path>,
    plugins: Option<&Path>,
) -> anyhow::Result<u8> {
    let device = inputs::device(device)?;
    let catalog = inputs::catalog(catalog)?;
    let manifests = manifests(plugins)?;
    let (documents, errors) = inputs::policies_as_read(paths)?;
    println!(
        "Device {} ({}, {})",
        safe(&device.name),
        device.platform,
        safe(&device.os_version)
    );
    for e in &errors {
        println!("Unreadable: {}", safe(&e.to_string()));
    }
    for policy in resolve(&documents, &device, &catalog) {
        println!();
        println!("Policy  {}  ({})", safe(&policy.name), safe(&policy.origin));
        if let Some(reason) = policy.reason() {
            println!("        {}", safe(reason));
        }
        for entry in &policy.entries {
            let group = entry
                .group
                .as_ref()
                .map(|g| format!(" [item {}]", g.index))
                .unwrap_or_default();
            match &entry.disposition {
                Disposition::Enforce(s) => {
                    println!(
                        "  {}{group} = {}  {}",
                        safe(&entry.id),
                        safe(&s.value.to_string()),
                        route(&manifests, device.platform, s)
                    )
                }
                Disposition::Withheld { status, message } => {
                    println!("  {}{group}  {status}: {}", safe(&entry.id), safe(message))
                }
            }
        }
    }
    Ok(if errors.is_empty() {
        exit::OK
    } else {
        exit::PARTIAL
    })
}
