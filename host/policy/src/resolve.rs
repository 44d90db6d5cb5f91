//! Resolving policy documents for one device: what to enforce, and what to withhold and why.
//!
//! This is the stage between parsing and enforcement. For each document, in order:
//!
//! 1. **Targeting** ([`crate::targeting`]): a policy whose assignments do not reach the device
//!    is *not assigned*: [`ResolvedPolicy::not_assigned`] says why and every setting is withheld
//!    as `notAssigned`. Applicability is then not evaluated: the device never receives the
//!    policy. Its policy state is [`PolicyStatus::NotAssigned`] (code 7), which the Intune
//!    portal shows as *Not applicable*.
//! 2. **Applicability** ([`crate::applicability::check`]): a policy that does not apply
//!    (channel, platform, template, domain controller) has
//!    [`ResolvedPolicy::not_applicable`] set and every setting withheld as `notApplicable`.
//! 3. **Flattening** ([`crate::settings::flatten`]) through the catalog; a setting that does not
//!    resolve (unknown definition or option, value out of range, ...) is withheld as `error`
//!    with the problem, alone.
//! 4. **Setting applicability** ([`crate::applicability::check_setting`]): a setting security
//!    settings management does not support, or a server-only / client-only ASR rule on the
//!    wrong kind of Windows, is withheld as `notApplicable` with the reason while the rest of
//!    the policy is enforced. This is checked before the catalog's verdict, so such a setting is
//!    not applicable even when the catalog does not know it.
//! 5. **Merge and conflict**, across the policies that are assigned and apply. How a setting
//!    merges is the catalog's merge rule for it ([`Catalog::merge_rule`]: the `merge` key of the
//!    compact catalog format, described by [`MergeRule`]); this stage knows no setting ids. A
//!    setting is looked up by its own id for `union` and by its group collection's id for the
//!    other rules:
//!    - `union`, `union-ignore-case` (text lists): a union over all policies, deduplicated
//!      exactly or ignoring case, in first-seen order (policy order, then list order). The
//!      embedded catalog declares `union-ignore-case` for the Windows AV exclusion lists
//!      (`ExcludedPaths`, `ExcludedExtensions`, `ExcludedProcesses`), which so add up across
//!      antivirus and exclusions profiles alike;
//!    - `items`, `items-ignore-case` (group collections whose items each describe one thing): a
//!      union of items per group: identical items, from any policy, become one item. The
//!      embedded catalog declares `items` for the Linux antivirus exclusions and Linux's global
//!      exclusions, compared exactly because Linux file systems are case-sensitive (folding case
//!      would drop a real exclusion), and `items-ignore-case` for the macOS antivirus
//!      exclusions, whose default file system is not;
//!    - `asr-rules` (declared for the ASR rules group collection): rules merge per rule GUID
//!      (from the `GUID=action` value, compared ignoring case): policies that give a rule the
//!      same action enforce it once; different actions conflict. The group's other settings
//!      (per-rule exclusions) do not merge: they conflict when they differ;
//!    - `keyed`, `keyed-ignore-case` (group collections whose items are identified by one of
//!      their settings, the rule's key): items add up across policies by key: items with the
//!      same key and the same settings are one item; the same key with different settings (in
//!      two policies, or twice in one) is a conflict for that item alone, reported in every
//!      policy that defines it, while the other items still apply. An item is applied whole or
//!      not at all: when one of its settings is withheld (an unknown definition, an option out
//!      of range, ...), its other settings are withheld as `error` too, so no item is ever
//!      written without one of its conditions. Messages call an item by the rule's label. The
//!      embedded catalog declares `keyed-ignore-case` for the Windows Firewall rules group
//!      (key: the rule name, compared ignoring case because it becomes a registry value name;
//!      label `firewall rule`);
//!    - any other setting (same definition id and group position) with different values in
//!      two policies is withheld as `conflict` in both, with a message naming the other policy
//!      and both values (secrets as `<redacted>`). Equal values are not a conflict.
//!
//! Every setting of every document comes out as an [`Entry`], enforced or withheld with a
//! status and a reason, so nothing is silently dropped.
//!
//! **One enforced setting, one [`ResolvedSetting`].** The enforce stage runs each distinct
//! `(id, group)` once and reports its outcome in every policy that asked for it. So every entry
//! that merges into one enforced setting carries an identical [`ResolvedSetting`] (same id,
//! group and value: the union, or the first policy's spelling of an equal value). Should two
//! catalog definitions name one ASR rule, the setting's id is the first one's, whatever
//! [`Entry::id`] says. For merged items of `items` and `keyed` groups (Linux/macOS exclusions,
//! firewall rules) the setting's `group` is the item's position in the group's merged list,
//! while [`Entry::group`] stays the position in the policy's own document, which is what a
//! report for that policy should show.

use std::collections::{HashMap, HashSet};

use crate::applicability;
use crate::catalog::{Catalog, MergeRule};
use crate::device::Device;
use crate::graph::{PolicyDocument, SettingInstance, TemplateReference};
use crate::settings::{GroupPosition, ResolvedSetting, SettingValue, flatten};
use crate::status::{PolicyStatus, SettingStatus, aggregate};
use crate::targeting;

/// One document, resolved for one device.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPolicy {
    /// Policy id.
    pub id: String,
    /// Policy name.
    pub name: String,
    /// Where the document came from.
    pub origin: String,
    /// The endpoint-security template the policy was made from, if any.
    pub template: Option<TemplateReference>,
    /// Why the policy is not assigned to this device, if it is not (then `not_applicable` is
    /// `None` and every entry is withheld as `notAssigned`).
    pub not_assigned: Option<String>,
    /// Why the whole policy does not apply to this device, if it does not.
    pub not_applicable: Option<String>,
    /// Every setting of the document.
    pub entries: Vec<Entry>,
}

impl ResolvedPolicy {
    /// Why the policy as a whole is withheld (not assigned, else not applicable), if it is.
    pub fn reason(&self) -> Option<&str> {
        self.not_assigned
            .as_deref()
            .or(self.not_applicable.as_deref())
    }

    /// The policy's state given its settings' final states (withheld entries' statuses and the
    /// enforcer's outcomes): [`PolicyStatus::NotAssigned`] or [`PolicyStatus::NotApplicable`]
    /// when the policy as a whole is withheld, even without settings; otherwise
    /// [`aggregate`] of `statuses`.
    pub fn status(&self, statuses: impl IntoIterator<Item = SettingStatus>) -> PolicyStatus {
        if self.not_assigned.is_some() {
            PolicyStatus::NotAssigned
        } else if self.not_applicable.is_some() {
            PolicyStatus::NotApplicable
        } else {
            aggregate(statuses)
        }
    }
}

/// One setting of one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Setting definition id.
    pub id: String,
    /// Group position in the document, for settings inside a repeating group.
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
        /// The reported status (`error`, `conflict`, `notApplicable`, `notAssigned`).
        status: SettingStatus,
        /// Why.
        message: String,
    },
}

/// Resolves `documents` for `device` (see the [module documentation](self)). The result has
/// one [`ResolvedPolicy`] per document, in the same order.
pub fn resolve(
    documents: &[PolicyDocument],
    device: &Device,
    catalog: &Catalog,
) -> Vec<ResolvedPolicy> {
    let mut policies: Vec<ResolvedPolicy> = documents
        .iter()
        .map(|doc| resolve_one(doc, device, catalog))
        .collect();
    merge(&mut policies, catalog);
    policies
}

fn resolve_one(doc: &PolicyDocument, device: &Device, catalog: &Catalog) -> ResolvedPolicy {
    let not_assigned = targeting::check(doc, device).err().map(|n| n.reason);
    let not_applicable = match not_assigned {
        Some(_) => None,
        None => applicability::check(doc, device).err().map(|n| n.reason),
    };
    let entries = match (&not_assigned, &not_applicable) {
        (Some(reason), _) => withhold_all(doc, SettingStatus::NotAssigned, reason),
        (None, Some(reason)) => withhold_all(doc, SettingStatus::NotApplicable, reason),
        (None, None) => flatten(doc, catalog)
            .into_iter()
            .map(|outcome| {
                let (id, group) = match &outcome {
                    Ok(setting) => (setting.id.clone(), setting.group.clone()),
                    Err(problem) => (problem.id.clone(), problem.group.clone()),
                };
                let disposition = match applicability::check_setting(&id, device, catalog.get(&id))
                {
                    Err(not_applicable) => Disposition::Withheld {
                        status: SettingStatus::NotApplicable,
                        message: not_applicable.reason,
                    },
                    Ok(()) => match outcome {
                        Ok(setting) => Disposition::Enforce(setting),
                        Err(problem) => Disposition::Withheld {
                            status: SettingStatus::Error,
                            message: problem.kind.to_string(),
                        },
                    },
                };
                Entry {
                    id,
                    group,
                    disposition,
                }
            })
            .collect(),
    };
    ResolvedPolicy {
        id: doc.id.clone(),
        name: doc.name.clone(),
        origin: doc.origin.clone(),
        template: doc.template.clone(),
        not_assigned,
        not_applicable,
        entries,
    }
}

/// Every setting of a policy withheld for one policy-level reason. The settings come from the
/// document's tree alone, without the catalog: a policy the device does not receive is
/// reported the same whatever the catalog knows.
fn withhold_all(doc: &PolicyDocument, status: SettingStatus, reason: &str) -> Vec<Entry> {
    let mut positions = Vec::new();
    setting_positions(&doc.settings, None, &mut positions);
    positions
        .into_iter()
        .map(|(id, group)| Entry {
            id,
            group,
            disposition: Disposition::Withheld {
                status,
                message: reason.to_owned(),
            },
        })
        .collect()
}

/// The settings of a tree with their group positions, in the order and with the positions
/// [`flatten`] gives them; groups themselves are containers, not settings.
fn setting_positions(
    instances: &[SettingInstance],
    group: Option<&GroupPosition>,
    out: &mut Vec<(String, Option<GroupPosition>)>,
) {
    for instance in instances {
        let id = instance.definition_id();
        match instance {
            SettingInstance::Choice { children, .. } => {
                out.push((id.to_owned(), group.cloned()));
                setting_positions(children, group, out);
            }
            SettingInstance::Simple { .. } | SettingInstance::SimpleCollection { .. } => {
                out.push((id.to_owned(), group.cloned()));
            }
            SettingInstance::ChoiceCollection { values, .. } => {
                out.push((id.to_owned(), group.cloned()));
                for item in values {
                    setting_positions(&item.children, group, out);
                }
            }
            SettingInstance::GroupCollection { items, .. } => {
                for (index, children) in items.iter().enumerate() {
                    let position = GroupPosition {
                        definition_id: id.to_owned(),
                        index: u32::try_from(index).unwrap_or(u32::MAX),
                    };
                    setting_positions(children, Some(&position), out);
                }
            }
            SettingInstance::Group { children, .. } => setting_positions(children, group, out),
        }
    }
}

/// Which entries merge into one enforced setting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum MergeKey {
    /// A list with a `union` rule, by definition id (with whether entries ignore case).
    List(String, bool),
    /// One setting of one merged item of an `items` group (its position in the merged list).
    Item(String, GroupPosition),
    /// One setting of one merged item of a `keyed` group (its position in the merged list).
    KeyedItem(String, GroupPosition),
    /// An ASR rule of an `asr-rules` group: (group id, lowercase GUID).
    AsrRule(String, String),
    /// Another setting of an `asr-rules` group (per-rule exclusions), by id: the group's items
    /// merge, so the item index does not matter.
    AsrGroupSetting(String),
    /// Any other setting, by id and group position.
    Setting(String, Option<GroupPosition>),
}

/// Where an entry is: (policy index, entry index).
type Slot = (usize, usize);

/// Merges the enforced entries of all policies and withholds conflicts (see the
/// [module documentation](self)).
fn merge(policies: &mut [ResolvedPolicy], catalog: &Catalog) {
    let merged_items = merge_items(policies, catalog);
    let merged_keyed = merge_keyed_items(policies, catalog);

    // Buckets of entries that reach one enforced setting, in first-seen order.
    let mut keys: HashMap<MergeKey, usize> = HashMap::new();
    let mut buckets: Vec<(MergeKey, Vec<Slot>)> = Vec::new();
    for (p, policy) in policies.iter().enumerate() {
        for (e, entry) in policy.entries.iter().enumerate() {
            let Disposition::Enforce(setting) = &entry.disposition else {
                continue;
            };
            let key = merge_key(setting, p, catalog, &merged_items, &merged_keyed);
            let bucket = *keys.entry(key.clone()).or_insert_with(|| {
                buckets.push((key, Vec::new()));
                buckets.len() - 1
            });
            buckets[bucket].1.push((p, e));
        }
    }

    for (key, slots) in buckets {
        let settings: Vec<&ResolvedSetting> = slots
            .iter()
            .filter_map(|&(p, e)| match &policies[p].entries[e].disposition {
                Disposition::Enforce(setting) => Some(setting),
                Disposition::Withheld { .. } => None,
            })
            .collect();
        let Some(first) = settings.first() else {
            continue;
        };
        let outcome = match &key {
            MergeKey::List(_, ignore_case) => match union(&settings, *ignore_case) {
                Some(values) => Ok(ResolvedSetting {
                    value: SettingValue::TextList(values),
                    ..(*first).clone()
                }),
                // Not a list after all (a catalog that disagrees): merge like any setting.
                None => same_value(
                    &settings,
                    |s| s.value.to_string(),
                    |a, b| a.value == b.value,
                ),
            },
            MergeKey::Item(_, position) => Ok(ResolvedSetting {
                group: Some(position.clone()),
                ..(*first).clone()
            }),
            // Every item of a merged rule has the same settings, so this differs only when one
            // item holds the same setting twice.
            MergeKey::KeyedItem(_, position) => same_value(
                &settings,
                |s| s.value.to_string(),
                |a, b| a.value == b.value,
            )
            .map(|setting| ResolvedSetting {
                group: Some(position.clone()),
                ..setting
            }),
            MergeKey::AsrRule(..) => same_value(&settings, asr_action_name, |a, b| {
                asr_action(&a.value) == asr_action(&b.value)
            }),
            MergeKey::AsrGroupSetting(_) | MergeKey::Setting(..) => same_value(
                &settings,
                |s| s.value.to_string(),
                |a, b| a.value == b.value,
            ),
        };
        match outcome {
            Ok(canonical) => {
                for &(p, e) in &slots {
                    policies[p].entries[e].disposition = Disposition::Enforce(canonical.clone());
                }
            }
            Err(shown) => {
                let messages: Vec<String> = slots
                    .iter()
                    .enumerate()
                    .map(|(i, &(p, _))| conflict_message(policies, &slots, &shown, i, p))
                    .collect();
                for (&(p, e), message) in slots.iter().zip(messages) {
                    policies[p].entries[e].disposition = Disposition::Withheld {
                        status: SettingStatus::Conflict,
                        message,
                    };
                }
            }
        }
    }
}

/// The merge key of an enforced setting of policy `p`, from the catalog's merge rules for the
/// setting's id (`union`) and its group's id (the other rules).
fn merge_key(
    setting: &ResolvedSetting,
    p: usize,
    catalog: &Catalog,
    merged_items: &HashMap<(usize, GroupPosition), u32>,
    merged_keyed: &HashMap<(usize, GroupPosition), u32>,
) -> MergeKey {
    if let Some(MergeRule::Union { ignore_case }) = catalog.merge_rule(&setting.id) {
        return MergeKey::List(setting.id.clone(), *ignore_case);
    }
    if let Some(group) = &setting.group {
        let merged_position = |index: u32| GroupPosition {
            definition_id: group.definition_id.clone(),
            index,
        };
        if let Some(&index) = merged_keyed.get(&(p, group.clone())) {
            return MergeKey::KeyedItem(setting.id.clone(), merged_position(index));
        }
        if let Some(&index) = merged_items.get(&(p, group.clone())) {
            return MergeKey::Item(setting.id.clone(), merged_position(index));
        }
        if let Some(MergeRule::AsrRules) = catalog.merge_rule(&group.definition_id) {
            return match asr_guid(&setting.value) {
                Some(guid) => MergeKey::AsrRule(group.definition_id.clone(), guid),
                None => MergeKey::AsrGroupSetting(setting.id.clone()),
            };
        }
    }
    MergeKey::Setting(setting.id.clone(), setting.group.clone())
}

/// Assigns every item of an `items` group, in every policy, its index in the group's merged
/// list: identical items share one. Keyed by (policy index, position in the document).
fn merge_items(
    policies: &[ResolvedPolicy],
    catalog: &Catalog,
) -> HashMap<(usize, GroupPosition), u32> {
    // Each item's content, in first-seen order: sorted (id, canonical value) pairs.
    let mut order: Vec<(usize, GroupPosition)> = Vec::new();
    let mut contents: HashMap<(usize, GroupPosition), Vec<(String, String)>> = HashMap::new();
    for (p, policy) in policies.iter().enumerate() {
        for entry in &policy.entries {
            let Disposition::Enforce(setting) = &entry.disposition else {
                continue;
            };
            let Some(group) = &setting.group else {
                continue;
            };
            let Some(&MergeRule::Items { ignore_case }) = catalog.merge_rule(&group.definition_id)
            else {
                continue;
            };
            let slot = (p, group.clone());
            let content = contents.entry(slot.clone()).or_insert_with(|| {
                order.push(slot);
                Vec::new()
            });
            content.push((setting.id.clone(), canonical(&setting.value, ignore_case)));
        }
    }
    let mut next: HashMap<String, u32> = HashMap::new();
    let mut seen: HashMap<(String, Vec<(String, String)>), u32> = HashMap::new();
    let mut merged = HashMap::new();
    for slot in order {
        let mut content = contents.remove(&slot).unwrap_or_default();
        content.sort();
        let group = slot.1.definition_id.clone();
        let index = *seen.entry((group.clone(), content)).or_insert_with(|| {
            let counter = next.entry(group).or_insert(0);
            let index = *counter;
            *counter = counter.saturating_add(1);
            index
        });
        merged.insert(slot, index);
    }
    merged
}

/// The `keyed` merge rule of a group, as [`merge_keyed_items`] uses it.
#[derive(Clone, Copy)]
struct Keyed<'c> {
    /// The child definition whose value identifies an item.
    key: &'c str,
    /// Whether keys are compared ignoring case.
    ignore_case: bool,
    /// What messages call one item, e.g. `firewall rule`.
    label: &'c str,
}

impl<'c> Keyed<'c> {
    /// The `keyed` rule of the group collection `group`, if it has one.
    fn of(catalog: &'c Catalog, group: &str) -> Option<Self> {
        match catalog.merge_rule(group)? {
            MergeRule::Keyed {
                key,
                ignore_case,
                label,
            } => Some(Keyed {
                key,
                ignore_case: *ignore_case,
                label,
            }),
            _ => None,
        }
    }

    /// The label's last word, as in "a rule is applied whole" and "same rule name".
    fn noun(self) -> &'c str {
        self.label.rsplit(' ').next().unwrap_or(self.label)
    }
}

/// One item of a `keyed` group of one policy, as [`merge_keyed_items`] sees it.
struct KeyedItem<'c> {
    /// The group's rule.
    rule: Keyed<'c>,
    /// The policy index.
    p: usize,
    /// The item's position in the policy's document.
    position: GroupPosition,
    /// The item's entries (indices into the policy's entries).
    entries: Vec<usize>,
    /// The item's enforced settings as sorted (id, canonical value) pairs.
    content: Vec<(String, String)>,
    /// The item's key (the key setting's value), when it has one.
    key: Option<String>,
}

/// Merges the items of every `keyed` group across policies by key (see the [module
/// documentation](self)): withholds every item that lost one of its settings and every item
/// whose key two items use for different settings, and assigns each remaining item its index in
/// its group's merged list. Keyed by (policy index, position in the document).
fn merge_keyed_items(
    policies: &mut [ResolvedPolicy],
    catalog: &Catalog,
) -> HashMap<(usize, GroupPosition), u32> {
    let mut items: Vec<KeyedItem<'_>> = Vec::new();
    let mut index_of: HashMap<(usize, GroupPosition), usize> = HashMap::new();
    for (p, policy) in policies.iter().enumerate() {
        for (e, entry) in policy.entries.iter().enumerate() {
            let Some(group) = &entry.group else {
                continue;
            };
            let Some(rule) = Keyed::of(catalog, &group.definition_id) else {
                continue;
            };
            let slot = *index_of.entry((p, group.clone())).or_insert_with(|| {
                items.push(KeyedItem {
                    rule,
                    p,
                    position: group.clone(),
                    entries: Vec::new(),
                    content: Vec::new(),
                    key: None,
                });
                items.len() - 1
            });
            items[slot].entries.push(e);
        }
    }

    // An item missing one of its settings (a firewall rule without one of its conditions) would
    // be broader than the policy says: withhold it.
    let mut complete = Vec::new();
    for mut item in items {
        let entries = &mut policies[item.p].entries;
        let withheld = item
            .entries
            .iter()
            .find_map(|&e| match &entries[e].disposition {
                Disposition::Withheld { message, .. } => {
                    Some((entries[e].id.clone(), message.clone()))
                }
                Disposition::Enforce(_) => None,
            });
        if let Some((id, message)) = withheld {
            let field = item_field(&item.position.definition_id, &id);
            let (label, noun) = (item.rule.label, item.rule.noun());
            let article = article(noun);
            for &e in &item.entries {
                if matches!(entries[e].disposition, Disposition::Enforce(_)) {
                    entries[e].disposition = Disposition::Withheld {
                        status: SettingStatus::Error,
                        message: format!(
                            "not applied: this {label}'s setting '{field}' was withheld ({message}), and {article} {noun} is applied whole or not at all"
                        ),
                    };
                }
            }
            continue;
        }
        for &e in &item.entries {
            if let Disposition::Enforce(setting) = &entries[e].disposition {
                item.content
                    .push((setting.id.clone(), canonical(&setting.value, false)));
                if setting.id == item.rule.key
                    && let Some(key) = key_text(&setting.value)
                {
                    item.key.get_or_insert(key);
                }
            }
        }
        item.content.sort();
        complete.push(item);
    }

    // Items by (group, key), in first-seen order; an item without a key stands alone (the
    // plugin reports it).
    let mut buckets: Vec<Vec<KeyedItem<'_>>> = Vec::new();
    let mut by_key: HashMap<(String, String), usize> = HashMap::new();
    for item in complete {
        let key = item.key.as_ref().map(|key| {
            let key = if item.rule.ignore_case {
                key.to_lowercase()
            } else {
                key.clone()
            };
            (item.position.definition_id.clone(), key)
        });
        match key {
            Some(key) => match by_key.get(&key) {
                Some(&b) => buckets[b].push(item),
                None => {
                    by_key.insert(key, buckets.len());
                    buckets.push(vec![item]);
                }
            },
            None => buckets.push(vec![item]),
        }
    }

    let mut merged = HashMap::new();
    let mut next: HashMap<String, u32> = HashMap::new();
    for bucket in buckets {
        if bucket.iter().all(|item| item.content == bucket[0].content) {
            let counter = next
                .entry(bucket[0].position.definition_id.clone())
                .or_insert(0);
            for item in bucket {
                merged.insert((item.p, item.position), *counter);
            }
            *counter = counter.saturating_add(1);
            continue;
        }
        let fields = differing_fields(&bucket);
        for item in &bucket {
            let (label, noun) = (item.rule.label, item.rule.noun());
            let key_field = item_field(&item.position.definition_id, item.rule.key);
            let name = one_line(item.key.as_deref().unwrap_or_default());
            let mut others: Vec<String> = Vec::new();
            for other in &bucket {
                let quoted = format!("'{}'", policies[other.p].name);
                if other.p != item.p && !others.contains(&quoted) {
                    others.push(quoted);
                }
            }
            let message = if others.is_empty() {
                format!(
                    "{label} '{name}' is defined more than once in this policy, with different {fields}; not applied"
                )
            } else {
                format!(
                    "{label} '{name}' conflicts with {} {}: same {noun} {key_field}, different {fields}; not applied",
                    if others.len() == 1 {
                        "policy"
                    } else {
                        "policies"
                    },
                    others.join(", ")
                )
            };
            for &e in &item.entries {
                policies[item.p].entries[e].disposition = Disposition::Withheld {
                    status: SettingStatus::Conflict,
                    message: message.clone(),
                };
            }
        }
    }
    merged
}

/// The text that identifies a `keyed` item: the key setting's text or integer value.
fn key_text(value: &SettingValue) -> Option<String> {
    match value {
        SettingValue::Text(text) => Some(text.clone()),
        SettingValue::Integer(number) => Some(number.to_string()),
        _ => None,
    }
}

/// `a` or `an`, for a noun in a message.
fn article(noun: &str) -> &'static str {
    match noun.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// Policy text for a message: control characters escaped, so the message stays one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A group item's setting's field name: its id after the group's id and `_` (`direction`).
fn item_field<'i>(group: &str, id: &'i str) -> &'i str {
    id.strip_prefix(group)
        .and_then(|rest| rest.strip_prefix('_'))
        .unwrap_or(id)
}

/// The fields in which the items of one key differ, e.g. `direction, localportranges`.
fn differing_fields(items: &[KeyedItem<'_>]) -> String {
    let mut ids: Vec<&str> = items
        .iter()
        .flat_map(|item| item.content.iter().map(|(id, _)| id.as_str()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let value = |item: &KeyedItem<'_>, id: &str| -> Vec<String> {
        item.content
            .iter()
            .filter(|(i, _)| i == id)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let differing: Vec<&str> = ids
        .into_iter()
        .filter(|id| {
            items
                .iter()
                .any(|item| value(item, id) != value(&items[0], id))
        })
        .map(|id| item_field(&items[0].position.definition_id, id))
        .collect();
    if differing.is_empty() {
        "settings".to_owned()
    } else {
        format!("settings ({})", differing.join(", "))
    }
}

/// A value as a comparable string: exact, or with letters folded for case-insensitive
/// comparison. Secrets take part by their text, which never leaves this function.
fn canonical(value: &SettingValue, fold_case: bool) -> String {
    let text = match value {
        SettingValue::Integer(number) => format!("i:{number}"),
        SettingValue::Boolean(flag) => format!("b:{flag}"),
        SettingValue::Text(text) => format!("t:{text}"),
        SettingValue::TextList(texts) => format!("l:{}", texts.join("\u{0}")),
        SettingValue::IntegerList(numbers) => format!("n:{numbers:?}"),
        SettingValue::Secret(secret) => format!("s:{}", secret.expose()),
    };
    if fold_case { text.to_lowercase() } else { text }
}

/// The union of the lists of `settings`, deduplicated exactly or ignoring case (the first
/// spelling wins), in first-seen order; `None` when one of the values is not a list of strings.
fn union(settings: &[&ResolvedSetting], ignore_case: bool) -> Option<Vec<String>> {
    let mut seen = HashSet::new();
    let mut values = Vec::new();
    for setting in settings {
        let SettingValue::TextList(texts) = &setting.value else {
            return None;
        };
        for text in texts {
            let key = if ignore_case {
                text.to_lowercase()
            } else {
                text.clone()
            };
            if seen.insert(key) {
                values.push(text.clone());
            }
        }
    }
    Some(values)
}

/// The first setting when `equal` holds for every pair with it, else every setting's value as
/// `show` renders it (for the conflict message).
fn same_value(
    settings: &[&ResolvedSetting],
    show: impl Fn(&ResolvedSetting) -> String,
    equal: impl Fn(&ResolvedSetting, &ResolvedSetting) -> bool,
) -> Result<ResolvedSetting, Vec<String>> {
    match settings.split_first() {
        Some((first, rest)) if rest.iter().all(|other| equal(first, other)) => Ok((*first).clone()),
        _ => Err(settings.iter().map(|setting| show(setting)).collect()),
    }
}

/// The conflict message for slot `i` (in policy `p`) of a bucket whose values are `shown`.
fn conflict_message(
    policies: &[ResolvedPolicy],
    slots: &[Slot],
    shown: &[String],
    i: usize,
    p: usize,
) -> String {
    let mine = shown.get(i).map_or("?", String::as_str);
    let mut names: Vec<String> = Vec::new();
    let mut values: Vec<String> = Vec::new();
    for (j, &(q, _)) in slots.iter().enumerate() {
        if q == p {
            continue;
        }
        let name = format!("'{}'", policies[q].name);
        let value = format!("{name} sets {}", shown.get(j).map_or("?", String::as_str));
        if !names.contains(&name) {
            names.push(name);
        }
        if !values.contains(&value) {
            values.push(value);
        }
    }
    if names.is_empty() {
        // The same policy sets the setting twice, differently.
        let mut own: Vec<&str> = Vec::new();
        for value in shown {
            if !own.contains(&value.as_str()) {
                own.push(value);
            }
        }
        return format!(
            "conflicts with another value in this policy ({}); not applied",
            own.join(", ")
        );
    }
    format!(
        "conflicts with {} {} (this policy sets {mine}, {}); not applied",
        if names.len() == 1 {
            "policy"
        } else {
            "policies"
        },
        names.join(", "),
        values.join(", ")
    )
}

/// The lowercase rule GUID of an ASR value `GUID=action`, when it has that shape.
fn asr_guid(value: &SettingValue) -> Option<String> {
    let SettingValue::Text(text) = value else {
        return None;
    };
    let (guid, _) = text.split_once('=')?;
    let guid = guid.trim();
    let is_guid = guid.len() == 36
        && guid.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    is_guid.then(|| guid.to_ascii_lowercase())
}

/// The action part of an ASR value `GUID=action`, trimmed.
fn asr_action(value: &SettingValue) -> Option<&str> {
    match value {
        SettingValue::Text(text) => text.split_once('=').map(|(_, action)| action.trim()),
        _ => None,
    }
}

/// An ASR action for messages: `off`, `block`, `audit`, `warn`, or the code as given.
fn asr_action_name(setting: &ResolvedSetting) -> String {
    match asr_action(&setting.value) {
        Some("0") => "off".to_owned(),
        Some("1") => "block".to_owned(),
        Some("2") => "audit".to_owned(),
        Some("6") => "warn".to_owned(),
        Some(other) => format!("action {other}"),
        None => setting.value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> SettingValue {
        SettingValue::Text(value.into())
    }

    #[test]
    fn asr_values_split_into_guid_and_action() {
        let value = text("D4F940AB-401B-4EFC-AADC-AD5F3C50688A=1");
        assert_eq!(
            asr_guid(&value).as_deref(),
            Some("d4f940ab-401b-4efc-aadc-ad5f3c50688a")
        );
        assert_eq!(asr_action(&value), Some("1"));
        assert_eq!(asr_guid(&text("not-a-guid=1")), None);
        assert_eq!(
            asr_guid(&text("d4f940ab-401b-4efc-aadc-ad5f3c50688a")),
            None
        );
        assert_eq!(asr_guid(&SettingValue::Integer(1)), None);
    }

    #[test]
    fn the_union_dedupes_ignoring_case_and_keeps_first_spellings_in_order() {
        let list = |values: &[&str]| ResolvedSetting {
            id: "device_vendor_msft_policy_config_defender_excludedpaths".into(),
            value: SettingValue::TextList(values.iter().map(|v| (*v).to_owned()).collect()),
            group: None,
            csp_uri: None,
        };
        let a = list(&["C:\\Temp", "D:\\Data", "c:\\temp"]);
        let b = list(&["d:\\DATA", "E:\\Logs"]);
        assert_eq!(
            union(&[&a, &b], true),
            Some(vec![
                "C:\\Temp".into(),
                "D:\\Data".into(),
                "E:\\Logs".into()
            ])
        );
        let not_a_list = ResolvedSetting {
            value: SettingValue::Integer(1),
            ..a.clone()
        };
        assert_eq!(union(&[&a, &not_a_list], true), None);
    }

    #[test]
    fn withheld_policies_list_settings_from_the_tree_alone() {
        let tree = vec![
            SettingInstance::Choice {
                definition_id: "a".into(),
                value: "a_1".into(),
                children: vec![SettingInstance::Simple {
                    definition_id: "b".into(),
                    value: crate::graph::SimpleValue::Integer(1),
                }],
            },
            SettingInstance::GroupCollection {
                definition_id: "g".into(),
                items: vec![
                    vec![],
                    vec![SettingInstance::Group {
                        definition_id: "inner".into(),
                        children: vec![SettingInstance::SimpleCollection {
                            definition_id: "c".into(),
                            values: vec![],
                        }],
                    }],
                ],
            },
        ];
        let mut out = Vec::new();
        setting_positions(&tree, None, &mut out);
        let position = GroupPosition {
            definition_id: "g".into(),
            index: 1,
        };
        assert_eq!(
            out,
            [
                ("a".to_owned(), None),
                ("b".to_owned(), None),
                ("c".to_owned(), Some(position)),
            ]
        );
    }
}
