//! Resolving policy documents for one device: what to enforce, and what to withhold and why.
//!
//! This is the stage between parsing and enforcement. For each document it decides
//! applicability, flattens the setting tree through the catalog, and detects conflicts: two
//! applicable policies that give one setting different values withhold it in both and report
//! `conflict` (Intune's rule: neither value is applied). Identical values from several policies
//! are not a conflict; the enforce stage applies them once.
//!
//! Every setting of every document comes out as an [`Entry`] — enforced or withheld with a
//! status and a reason — so nothing is silently dropped.

use std::collections::HashMap;

use crate::applicability;
use crate::catalog::Catalog;
use crate::device::Device;
use crate::graph::PolicyDocument;
use crate::settings::{GroupPosition, ResolvedSetting, SettingValue, flatten};
use crate::status::SettingStatus;

/// One document, resolved for one device.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPolicy {
    /// Policy id.
    pub id: String,
    /// Policy name.
    pub name: String,
    /// Where the document came from.
    pub origin: String,
    /// Why the whole policy does not apply to this device, if it does not.
    pub not_applicable: Option<String>,
    /// Every setting of the document.
    pub entries: Vec<Entry>,
}

/// One setting of one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Setting definition id.
    pub id: String,
    /// Group position, for settings inside a repeating group.
    pub group: Option<GroupPosition>,
    /// What happens to it.
    pub disposition: Disposition,
}

/// What happens to a setting.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Hand it to the plugin that claims it.
    Enforce(ResolvedSetting),
    /// Do not enforce it; report `status` with `message`.
    Withheld {
        /// The reported status (`error`, `conflict`, `notApplicable`).
        status: SettingStatus,
        /// Why.
        message: String,
    },
}

type Key = (String, Option<GroupPosition>);

/// Resolves `documents` for `device`.
pub fn resolve(
    documents: &[PolicyDocument],
    device: &Device,
    catalog: &Catalog,
) -> Vec<ResolvedPolicy> {
    let mut policies: Vec<ResolvedPolicy> = documents
        .iter()
        .map(|doc| {
            let not_applicable = applicability::check(doc, device)
                .err()
                .map(|na| na.to_string());
            let entries = flatten(doc, catalog)
                .into_iter()
                .map(|outcome| match (outcome, &not_applicable) {
                    (Ok(s), None) => Entry {
                        id: s.id.clone(),
                        group: s.group.clone(),
                        disposition: Disposition::Enforce(s),
                    },
                    (Ok(s), Some(reason)) => Entry {
                        id: s.id,
                        group: s.group,
                        disposition: Disposition::Withheld {
                            status: SettingStatus::NotApplicable,
                            message: reason.clone(),
                        },
                    },
                    // A policy that does not apply is not-applicable as a whole, including
                    // settings that would not have resolved anyway.
                    (Err(problem), Some(reason)) => Entry {
                        id: problem.id,
                        group: problem.group,
                        disposition: Disposition::Withheld {
                            status: SettingStatus::NotApplicable,
                            message: reason.clone(),
                        },
                    },
                    (Err(problem), None) => Entry {
                        disposition: Disposition::Withheld {
                            status: SettingStatus::Error,
                            message: problem.kind.to_string(),
                        },
                        id: problem.id,
                        group: problem.group,
                    },
                })
                .collect();
            ResolvedPolicy {
                id: doc.id.clone(),
                name: doc.name.clone(),
                origin: doc.origin.clone(),
                not_applicable,
                entries,
            }
        })
        .collect();
    withhold_conflicts(&mut policies);
    policies
}

/// Finds settings that applicable policies set to different values and withholds them.
fn withhold_conflicts(policies: &mut [ResolvedPolicy]) {
    // For every key: the (policy, entry) positions and their values.
    let mut seen: HashMap<Key, Vec<(usize, usize)>> = HashMap::new();
    for (p, policy) in policies.iter().enumerate() {
        for (e, entry) in policy.entries.iter().enumerate() {
            if let Disposition::Enforce(s) = &entry.disposition {
                seen.entry((s.id.clone(), s.group.clone()))
                    .or_default()
                    .push((p, e));
            }
        }
    }
    for positions in seen.into_values() {
        if positions.len() < 2 {
            continue;
        }
        let value_at = |(p, e): (usize, usize)| -> Option<SettingValue> {
            match &policies[p].entries[e].disposition {
                Disposition::Enforce(s) => Some(s.value.clone()),
                Disposition::Withheld { .. } => None,
            }
        };
        let first = value_at(positions[0]);
        if positions.iter().all(|&pos| value_at(pos) == first) {
            continue;
        }
        let names: Vec<String> = positions
            .iter()
            .map(|&(p, _)| format!("'{}'", policies[p].name))
            .collect();
        for &(p, e) in &positions {
            let others: Vec<&str> = positions
                .iter()
                .filter(|&&(q, _)| q != p)
                .map(|&(q, _)| policies[q].name.as_str())
                .collect();
            policies[p].entries[e].disposition = Disposition::Withheld {
                status: SettingStatus::Conflict,
                message: format!(
                    "policies {} set different values; not applied (conflicts with '{}')",
                    names.join(", "),
                    others.join("', '")
                ),
            };
        }
    }
}
