//! Property tests: the parser never panics, whatever it is fed (arbitrary bytes, arbitrary JSON
//! trees made of Graph's own vocabulary, real exports with random mutations, each alone and in
//! the list layouts and wrappers), and whatever parses flattens and resolves without panicking,
//! with one enforced setting per key.

use std::sync::LazyLock;

use proptest::prelude::*;
use rampart_policy::catalog::Catalog;
use rampart_policy::device::Device;
use rampart_policy::graph::{PolicyDocument, parse_policies, parse_policy};
use rampart_policy::resolve::resolve;
use rampart_policy::settings::flatten;
use serde_json::{Map, Value};

use crate::resolve::assert_one_setting_per_enforced_key;
use crate::support::{all_exports, example_devices};

static CATALOG: LazyLock<Catalog> = LazyLock::new(Catalog::embedded);
static DEVICES: LazyLock<Vec<Device>> =
    LazyLock::new(|| example_devices().into_iter().map(|(_, d)| d).collect());

/// The real exports as JSON values (the CIPP one unwrapped too, so mutations reach the policy).
static EXPORTS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let mut values = Vec::new();
    for path in all_exports() {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let value: Value =
            serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let inner = value
            .get("JSON")
            .and_then(Value::as_str)
            .and_then(|json| serde_json::from_str::<Value>(json).ok())
            .and_then(|wrapper| {
                let raw = wrapper.get("RAWJson")?.as_str()?.to_owned();
                serde_json::from_str::<Value>(&raw).ok()
            });
        values.push(value);
        values.extend(inner);
    }
    values
});

/// The documents the real exports parse to, to resolve next to generated ones.
static REAL_DOCS: LazyLock<Vec<PolicyDocument>> = LazyLock::new(|| {
    all_exports()
        .iter()
        .map(|path| {
            rampart_policy::graph::load_policy_file(path).unwrap_or_else(|error| panic!("{error}"))
        })
        .collect()
});

/// Parses `bytes` with both entry points; what parses is flattened and resolved (with a copy of
/// itself and with the real exports) on every example device.
fn exercise(bytes: &[u8]) {
    let one = parse_policy(bytes, "generated.json");
    let Ok(file) = parse_policies(bytes, "generated.json") else {
        assert!(
            one.is_err(),
            "parse_policy reads what parse_policies refuses"
        );
        return;
    };
    if let Ok(doc) = &one {
        assert_eq!(file.documents.as_slice(), std::slice::from_ref(doc));
    }
    let mut docs = file.documents.clone();
    for doc in &file.documents {
        let _ = flatten(doc, &CATALOG);
    }
    docs.extend(file.documents);
    docs.extend(REAL_DOCS.iter().cloned());
    for device in DEVICES.iter() {
        let resolved = resolve(&docs, device, &CATALOG);
        assert_eq!(resolved.len(), docs.len());
        assert_one_setting_per_enforced_key(&resolved);
    }
}

const KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "platforms",
    "technologies",
    "templateReference",
    "templateId",
    "templateDisplayName",
    "settings",
    "settingInstance",
    "@odata.type",
    "settingDefinitionId",
    "choiceSettingValue",
    "value",
    "children",
    "simpleSettingValue",
    "simpleSettingCollectionValue",
    "choiceSettingCollectionValue",
    "groupSettingCollectionValue",
    "groupSettingValue",
    "assignments",
    "target",
    "groupId",
    "JSON",
    "RAWJson",
    "TemplateJson",
    "Type",
    "GUID",
    "RowKey",
    "@odata.nextLink",
    "settingCount",
    "TenantId",
    "Objects",
];

const STRINGS: &[&str] = &[
    "windows10",
    "macOS",
    "linux",
    "mdm,microsoftSense",
    "microsoftSense",
    "804339ad-1553-4478-a742-138fb5807418_1",
    "6078910e-d808-4a9f-a51d-1b8a7bacb7c0_1",
    "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
    "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
    "#microsoft.graph.deviceManagementConfigurationSimpleSettingCollectionInstance",
    "#microsoft.graph.deviceManagementConfigurationChoiceSettingCollectionInstance",
    "#microsoft.graph.deviceManagementConfigurationGroupSettingCollectionInstance",
    "#microsoft.graph.deviceManagementConfigurationGroupSettingInstance",
    "#microsoft.graph.deviceManagementConfigurationIntegerSettingValue",
    "#microsoft.graph.deviceManagementConfigurationStringSettingValue",
    "#microsoft.graph.deviceManagementConfigurationSecretSettingValue",
    "#microsoft.graph.groupAssignmentTarget",
    "#microsoft.graph.exclusionGroupAssignmentTarget",
    "#microsoft.graph.allDevicesAssignmentTarget",
    "device_vendor_msft_policy_config_defender_cloudblocklevel",
    "device_vendor_msft_policy_config_defender_cloudblocklevel_2",
    "device_vendor_msft_policy_config_defender_excludedpaths",
    "device_vendor_msft_policy_config_defender_attacksurfacereductionrules",
    "device_vendor_msft_policy_config_defender_attacksurfacereductionrules_blockwin32apicallsfromofficemacros",
    "device_vendor_msft_policy_config_defender_attacksurfacereductionrules_blockwin32apicallsfromofficemacros_block",
    "b1c7e0f2-5a3d-4e8b-9f60-1d2c3b4a5e6f",
    "Catalog",
    "Device",
    "",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z@.#_]{0,10}",
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(STRINGS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        string().prop_map(Value::String),
    ]
}

/// Arbitrary JSON trees whose keys and strings are mostly Graph's vocabulary, so the parser
/// gets deep into documents rather than failing at the first key.
fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(8, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..7)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

const INSTANCE_TYPES: &[&str] = &[
    "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
    "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
    "#microsoft.graph.deviceManagementConfigurationSimpleSettingCollectionInstance",
    "#microsoft.graph.deviceManagementConfigurationChoiceSettingCollectionInstance",
    "#microsoft.graph.deviceManagementConfigurationGroupSettingCollectionInstance",
    "#microsoft.graph.deviceManagementConfigurationGroupSettingInstance",
    "#microsoft.graph.deviceManagementConfigurationSomethingNew",
];

const VALUE_TYPES: &[&str] = &[
    "#microsoft.graph.deviceManagementConfigurationIntegerSettingValue",
    "#microsoft.graph.deviceManagementConfigurationStringSettingValue",
    "#microsoft.graph.deviceManagementConfigurationSecretSettingValue",
    "#microsoft.graph.deviceManagementConfigurationReferenceSettingValue",
];

/// Mostly `good`, sometimes an arbitrary JSON value in its place.
fn or_garbage(good: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![9 => good, 1 => json()].boxed()
}

/// A simple setting value: a Graph value object with a plausible or arbitrary `value`.
fn simple_value() -> BoxedStrategy<Value> {
    or_garbage(
        (prop::sample::select(VALUE_TYPES), leaf())
            .prop_map(|(kind, value)| serde_json::json!({"@odata.type": kind, "value": value})),
    )
}

/// A setting instance: a Graph instance type and definition id, with every kind's value
/// member present (the parser reads the one its type names), children nested a few levels.
fn instance() -> BoxedStrategy<Value> {
    let leaf_instance = (
        prop::sample::select(INSTANCE_TYPES),
        string(),
        simple_value(),
        prop::collection::vec(simple_value(), 0..3),
    )
        .prop_map(|(kind, id, simple, collection)| {
            serde_json::json!({
                "@odata.type": kind, "settingDefinitionId": id,
                "choiceSettingValue": {"value": format!("{id}_1"), "children": []},
                "simpleSettingValue": simple,
                "simpleSettingCollectionValue": collection,
                "choiceSettingCollectionValue": [{"value": format!("{id}_2")}],
                "groupSettingValue": {},
                "groupSettingCollectionValue": [],
            })
        });
    or_garbage(leaf_instance.prop_recursive(4, 48, 4, |inner| {
        (
            prop::sample::select(INSTANCE_TYPES),
            string(),
            string(),
            prop::collection::vec(inner.clone(), 0..4),
            prop::collection::vec(prop::collection::vec(inner, 0..4), 0..3),
        )
            .prop_map(|(kind, id, option, children, items)| {
                let items: Vec<Value> = items
                    .into_iter()
                    .map(|children| serde_json::json!({"children": children}))
                    .collect();
                serde_json::json!({
                    "@odata.type": kind, "settingDefinitionId": id,
                    "choiceSettingValue": {"value": option, "children": children.clone()},
                    "choiceSettingCollectionValue": [{"value": option, "children": children.clone()}],
                    "groupSettingValue": {"children": children},
                    "groupSettingCollectionValue": items,
                    "simpleSettingValue": {"@odata.type": VALUE_TYPES[1], "value": id},
                })
            })
    }))
}

const TARGET_TYPES: &[&str] = &[
    "#microsoft.graph.groupAssignmentTarget",
    "#microsoft.graph.exclusionGroupAssignmentTarget",
    "#microsoft.graph.allDevicesAssignmentTarget",
    "#microsoft.graph.allLicensedUsersAssignmentTarget",
    "#microsoft.graph.somethingElse",
];

/// A policy-shaped document: the members a policy has, holding plausible values most of the
/// time and arbitrary JSON now and then.
fn policy_shaped() -> impl Strategy<Value = Value> {
    let text = || or_garbage(string().prop_map(Value::String));
    let target = (prop::sample::select(TARGET_TYPES), string()).prop_map(
        |(kind, group)| serde_json::json!({"target": {"@odata.type": kind, "groupId": group}}),
    );
    (
        text(),
        text(),
        text(),
        prop::option::of(or_garbage(
            string().prop_map(|id| serde_json::json!({"templateId": id})),
        )),
        or_garbage(
            prop::collection::vec(instance(), 0..6).prop_map(|instances| {
                Value::Array(
                    instances
                        .into_iter()
                        .enumerate()
                        .map(|(i, instance)| {
                            serde_json::json!({"id": i.to_string(), "settingInstance": instance})
                        })
                        .collect(),
                )
            }),
        ),
        prop::option::of(or_garbage(
            prop::collection::vec(target, 0..4).prop_map(Value::Array),
        )),
    )
        .prop_map(
            |(name, platforms, technologies, template, settings, assignments)| {
                let mut object = Map::new();
                object.insert("name".into(), name);
                object.insert("platforms".into(), platforms);
                object.insert("technologies".into(), technologies);
                object.insert("settings".into(), settings);
                if let Some(template) = template {
                    object.insert("templateReference".into(), template);
                }
                if let Some(assignments) = assignments {
                    object.insert("assignments".into(), assignments);
                }
                Value::Object(object)
            },
        )
}

/// One edit at a path chosen by `steps` (each picks a child, modulo the child count).
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    RemoveMember,
    InsertMember(String, Value),
    Duplicate,
    Truncate,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => json().prop_map(Mutation::Replace),
        2 => Just(Mutation::RemoveMember),
        1 => (key(), json()).prop_map(|(k, v)| Mutation::InsertMember(k, v)),
        1 => Just(Mutation::Duplicate),
        1 => Just(Mutation::Truncate),
    ]
}

fn mutate(value: &mut Value, steps: &[usize], mutation: &Mutation) {
    // Choose the path on a shared borrow, then walk it mutably.
    let mut path = Vec::new();
    let mut node: &Value = value;
    for &step in steps {
        // Stop early now and then, so shallow nodes get mutated too.
        if step % 7 == 0 {
            break;
        }
        let next = match node {
            Value::Array(items) if !items.is_empty() => {
                let index = step % items.len();
                items.get(index).map(|child| (index, child))
            }
            Value::Object(members) if !members.is_empty() => {
                let index = step % members.len();
                members.values().nth(index).map(|child| (index, child))
            }
            _ => None,
        };
        let Some((index, child)) = next else { break };
        path.push(index);
        node = child;
    }
    let mut node = value;
    for index in path {
        let child = match node {
            Value::Array(items) => items.get_mut(index),
            Value::Object(members) => members.values_mut().nth(index),
            _ => None,
        };
        let Some(child) = child else { return };
        node = child;
    }
    match (mutation, node) {
        (Mutation::Replace(new), node) => *node = new.clone(),
        (Mutation::RemoveMember, Value::Object(members)) => {
            if let Some(first) = members.keys().next().cloned() {
                members.remove(&first);
            }
        }
        (Mutation::RemoveMember, Value::Array(items)) => {
            items.pop();
        }
        (Mutation::InsertMember(key, new), Value::Object(members)) => {
            members.insert(key.clone(), new.clone());
        }
        (Mutation::Duplicate, Value::Array(items)) => {
            if let Some(first) = items.first().cloned() {
                items.push(first);
            }
        }
        (Mutation::Truncate, Value::String(text)) => {
            let cut = text
                .char_indices()
                .nth(text.chars().count() / 2)
                .map_or(0, |(i, _)| i);
            text.truncate(cut);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(
        bom in any::<bool>(),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut input = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
        input.extend_from_slice(&bytes);
        exercise(&input);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_json(value in json()) {
        exercise(value.to_string().as_bytes());
    }

    #[test]
    fn parse_never_panics_on_policy_shaped_json(value in policy_shaped()) {
        exercise(value.to_string().as_bytes());
        // The same policy inside a CIPP wrapper.
        let raw = serde_json::json!({ "RAWJson": value.to_string() }).to_string();
        let wrapper = serde_json::json!({ "GUID": "g", "JSON": raw });
        exercise(wrapper.to_string().as_bytes());
        // In a Graph list page and in an array, with the CIPP backup item beside it.
        let item = serde_json::json!({ "TemplateJson": value.to_string(), "Type": "Catalog" });
        let page = serde_json::json!({ "value": [value, wrapper], "@odata.nextLink": "n" });
        exercise(page.to_string().as_bytes());
        exercise(serde_json::json!([item, page["value"][0]]).to_string().as_bytes());
    }

    #[test]
    fn parse_never_panics_on_mutated_real_exports(
        export in any::<prop::sample::Index>(),
        edits in prop::collection::vec(
            (prop::collection::vec(any::<usize>(), 0..12), mutation()),
            1..4,
        ),
    ) {
        let mut value = export.get(&EXPORTS).clone();
        for (steps, edit) in &edits {
            mutate(&mut value, steps, edit);
        }
        exercise(value.to_string().as_bytes());
        // Mutated next to an intact export, in both list layouts.
        let intact = EXPORTS[0].clone();
        exercise(Value::Array(vec![intact.clone(), value.clone()]).to_string().as_bytes());
        exercise(serde_json::json!({ "value": [value, intact] }).to_string().as_bytes());
    }
}

#[test]
fn the_mutation_base_holds_every_export_and_the_unwrapped_cipp_policy() {
    // At least one more value than files: the CIPP export's inner policy.
    assert!(EXPORTS.len() > all_exports().len());
    for value in EXPORTS.iter() {
        exercise(value.to_string().as_bytes());
    }
}
