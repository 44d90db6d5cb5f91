//! Every file layout the export tools write, built at test time from the real exports: a Graph
//! list response (whole, one page of several, PowerShell 5.1's `{"value", "Count"}`), a JSON
//! array, the CIPP wrappers that hold a policy as a JSON string (alone and in arrays), each in
//! UTF-8, UTF-8 with a byte order mark, UTF-16 little- and big-endian and with PowerShell 5.1
//! dates. Each must give the same documents, flattened settings and resolutions as the exports
//! read one file at a time; and a bad element is a one-line error naming its place.

use rampart_policy::catalog::Catalog;
use rampart_policy::graph::{
    Layout, Note, ParseProblem, PolicyDocument, PolicyError, PolicyFile, load_policies,
    parse_policies, parse_policy,
};
use rampart_policy::resolve::resolve;
use rampart_policy::settings::flatten;
use serde_json::{Value, json};

use crate::support::{all_exports, example_devices};

/// One real export: the document it parses to on its own, and the policy object it holds
/// (unwrapped from its CIPP wrapper, for the CIPP export) and the file's JSON as is.
struct Export {
    original: PolicyDocument,
    file: Value,
    policy: Value,
}

fn exports() -> Vec<Export> {
    let exports: Vec<Export> = all_exports()
        .iter()
        .map(|path| {
            let original = rampart_policy::graph::load_policy_file(path)
                .unwrap_or_else(|error| panic!("{error}"));
            let bytes = std::fs::read(path).expect("readable export");
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
            let file: Value = serde_json::from_slice(bytes).expect("the export is JSON");
            let policy = match file.get("JSON").and_then(Value::as_str) {
                Some(json) => {
                    let template: Value = serde_json::from_str(json).expect("CIPP JSON");
                    serde_json::from_str(template["RAWJson"].as_str().expect("RAWJson"))
                        .expect("CIPP RAWJson")
                }
                None => file.clone(),
            };
            Export {
                original,
                file,
                policy,
            }
        })
        .collect();
    assert!(exports.len() >= 6, "expected the six shared exports");
    assert!(
        exports.iter().any(|e| e.file.get("JSON").is_some()),
        "the CIPP export is among them"
    );
    exports
}

/// What a layout built from the exports should read as: each export's document, its id
/// possibly lost (a CIPP backup item of a policy without one).
#[derive(Clone, Copy, PartialEq)]
enum Ids {
    Kept,
    FromPolicy,
}

struct Case {
    name: String,
    json: Value,
    layout: Layout,
    ids: Ids,
    more_pages: bool,
    /// The origin of element `i` within file `f.json`.
    origin: fn(usize) -> String,
}

fn single(_: usize) -> String {
    "f.json".to_owned()
}

fn in_value(i: usize) -> String {
    format!("f.json#value[{i}]")
}

fn in_array(i: usize) -> String {
    format!("f.json#[{i}]")
}

const NEXT_LINK: &str = "https://graph.microsoft.com/beta/deviceManagement/configurationPolicies?$expand=settings&$skiptoken=LastItemId%3d42";

/// CIPP's three wrappers around a policy object: a templates-table entity (`JSON` → template
/// → `RAWJson` → policy), a template (`RAWJson` → policy) and a tenant backup item
/// (`TemplateJson` → policy).
fn cipp_wrappers(export: &Export) -> [(&'static str, Value, Ids); 3] {
    let policy = export.policy.to_string();
    let id = export.original.id.clone();
    let template = json!({
        "Displayname": export.original.name, "Description": export.original.description,
        "RAWJson": policy, "Type": "Catalog", "GUID": id,
    });
    let entity = json!({
        "PartitionKey": "IntuneTemplate", "RowKey": id, "GUID": id,
        "JSON": template.to_string(), "Package": "Baseline",
    });
    let item = json!({
        "TemplateJson": policy, "DisplayName": export.original.name,
        "Description": export.original.description, "Type": "Catalog",
    });
    [
        ("CIPP templates-table entity", entity, Ids::Kept),
        ("CIPP template", template, Ids::Kept),
        ("CIPP backup item", item, Ids::FromPolicy),
    ]
}

/// Every layout, built from `exports` (whose policies may have been rewritten, see
/// [`with_powershell_dates`]).
fn cases(exports: &[Export]) -> Vec<Case> {
    let files: Vec<Value> = exports.iter().map(|e| e.file.clone()).collect();
    let mut cases = vec![
        Case {
            name: "Graph list response".into(),
            json: json!({
                "@odata.context": "https://graph.microsoft.com/beta/$metadata#deviceManagement/configurationPolicies(settings())",
                "@odata.count": files.len(),
                "value": files,
            }),
            layout: Layout::GraphList,
            ids: Ids::Kept,
            more_pages: false,
            origin: in_value,
        },
        Case {
            name: "Graph list page".into(),
            json: json!({
                "@odata.context": "https://graph.microsoft.com/beta/$metadata#deviceManagement/configurationPolicies(settings())",
                "value": files,
                "@odata.nextLink": NEXT_LINK,
            }),
            layout: Layout::GraphList,
            ids: Ids::Kept,
            more_pages: true,
            origin: in_value,
        },
        Case {
            name: "PowerShell 5.1 array object".into(),
            json: json!({ "value": files, "Count": files.len() }),
            layout: Layout::GraphList,
            ids: Ids::Kept,
            more_pages: false,
            origin: in_value,
        },
        Case {
            name: "JSON array".into(),
            json: Value::Array(files),
            layout: Layout::Array,
            ids: Ids::Kept,
            more_pages: false,
            origin: in_array,
        },
    ];
    let wrapped: Vec<[(&str, Value, Ids); 3]> = exports.iter().map(cipp_wrappers).collect();
    for kind in 0..3 {
        let (name, _, ids) = &wrapped[0][kind];
        cases.push(Case {
            name: format!("array of {name}s"),
            json: Value::Array(wrapped.iter().map(|w| w[kind].1.clone()).collect()),
            layout: Layout::Array,
            ids: *ids,
            more_pages: false,
            origin: in_array,
        });
    }
    cases
}

/// The same text in every encoding the exports come in.
fn encodings(text: &str) -> Vec<(&'static str, Vec<u8>)> {
    let le = |bom: bool| -> Vec<u8> {
        let body = text.encode_utf16().flat_map(u16::to_le_bytes);
        if bom {
            [0xFF, 0xFE].into_iter().chain(body).collect()
        } else {
            body.collect()
        }
    };
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    vec![
        ("UTF-8", text.as_bytes().to_vec()),
        (
            "UTF-8 with BOM",
            [&b"\xEF\xBB\xBF"[..], text.as_bytes()].concat(),
        ),
        ("UTF-16LE with BOM", le(true)),
        ("UTF-16LE without BOM", le(false)),
        ("UTF-16BE with BOM", be),
    ]
}

/// The exports with every policy's `lastModifiedDateTime` as Windows PowerShell 5.1 writes it:
/// the `/Date(ms)/` string, or the object holding it, alternately.
const PS_DATE: &str = "/Date(1705285879967)/";
const PS_DATE_RFC3339: &str = "2024-01-15T02:31:19.967Z";

fn with_powershell_dates(exports: &[Export]) -> Vec<Export> {
    exports
        .iter()
        .enumerate()
        .map(|(i, export)| {
            let date = if i % 2 == 0 {
                json!(PS_DATE)
            } else {
                json!({"value": PS_DATE, "DisplayHint": 2, "DateTime": "Monday, January 15, 2024 2:31:19 AM"})
            };
            let mut policy = export.policy.clone();
            policy["lastModifiedDateTime"] = date;
            let file = match export.file.get("JSON").and_then(Value::as_str) {
                Some(json) => {
                    let mut template: Value = serde_json::from_str(json).expect("CIPP JSON");
                    template["RAWJson"] = policy.to_string().into();
                    let mut file = export.file.clone();
                    file["JSON"] = template.to_string().into();
                    file
                }
                None => policy.clone(),
            };
            let mut original = export.original.clone();
            original.last_modified = Some(PS_DATE_RFC3339.to_owned());
            Export {
                original,
                file,
                policy,
            }
        })
        .collect()
}

/// `got` holds the exports' documents: equal to each original but for the origin (and the id,
/// where the layout loses it), with the same flattened settings, and resolving to the same
/// entries on every example device.
fn assert_same_documents(case: &Case, encoding: &str, exports: &[Export], got: &PolicyFile) {
    let what = format!("{} in {encoding}", case.name);
    assert_eq!(got.layout, case.layout, "{what}");
    assert_eq!(got.documents.len(), exports.len(), "{what}");
    let catalog = Catalog::embedded();
    for (i, (export, doc)) in exports.iter().zip(&got.documents).enumerate() {
        assert_eq!(doc.origin, (case.origin)(i), "{what}");
        let mut want = export.original.clone();
        want.origin.clone_from(&doc.origin);
        if case.ids == Ids::FromPolicy {
            want.id = export.policy["id"].as_str().unwrap_or_default().to_owned();
        }
        assert_eq!(doc, &want, "{what}: element {i}");
        assert_eq!(
            flatten(doc, &catalog),
            flatten(&export.original, &catalog),
            "{what}: element {i} flattens differently"
        );
    }
    let originals: Vec<PolicyDocument> = exports.iter().map(|e| e.original.clone()).collect();
    for (device_name, device) in example_devices() {
        let from_file = resolve(&got.documents, &device, &catalog);
        let one_by_one = resolve(&originals, &device, &catalog);
        for (a, b) in from_file.iter().zip(&one_by_one) {
            assert_eq!(a.entries, b.entries, "{what} on {device_name}: {}", a.name);
            assert_eq!(
                (&a.not_assigned, &a.not_applicable),
                (&b.not_assigned, &b.not_applicable),
                "{what} on {device_name}"
            );
        }
    }
    let notes = if case.more_pages {
        vec![Note::MorePages {
            origin: "f.json".into(),
            count: exports.len(),
            next_link: NEXT_LINK.into(),
        }]
    } else {
        Vec::new()
    };
    assert_eq!(got.notes, notes, "{what}");
}

fn check_every_layout(exports: &[Export]) {
    for case in cases(exports) {
        let text = serde_json::to_string_pretty(&case.json).expect("serialisable");
        for (encoding, bytes) in encodings(&text) {
            let got = parse_policies(&bytes, "f.json")
                .unwrap_or_else(|error| panic!("{} in {encoding}: {error}", case.name));
            assert_same_documents(&case, encoding, exports, &got);
        }
    }
    // Each CIPP wrapper alone in a file is one policy, read by both entry points.
    for export in exports {
        for (name, wrapper, ids) in cipp_wrappers(export) {
            let case = Case {
                name: name.to_owned(),
                json: wrapper,
                layout: Layout::Single,
                ids,
                more_pages: false,
                origin: single,
            };
            let text = case.json.to_string();
            for (encoding, bytes) in encodings(&text) {
                let file = parse_policies(&bytes, "f.json")
                    .unwrap_or_else(|error| panic!("{name} in {encoding}: {error}"));
                assert_same_documents(&case, encoding, std::slice::from_ref(export), &file);
                let one = parse_policy(&bytes, "f.json").unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(one, file.documents[0], "{name} in {encoding}");
            }
        }
    }
}

#[test]
fn every_layout_and_encoding_reads_as_the_exports_one_by_one() {
    check_every_layout(&exports());
}

#[test]
fn every_layout_with_powershell_dates_reads_as_the_exports_one_by_one() {
    let exports = with_powershell_dates(&exports());
    check_every_layout(&exports);
}

#[test]
fn a_single_export_reads_the_same_through_both_entry_points() {
    for path in all_exports() {
        let file = load_policies(&path).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(file.layout, Layout::Single);
        assert!(file.notes.is_empty());
        let one = rampart_policy::graph::load_policy_file(&path).expect("one policy");
        assert_eq!(file.documents, [one]);
    }
}

#[test]
fn an_empty_list_is_no_policy_with_a_note_saying_so() {
    for (json, layout) in [
        (
            r#"{"@odata.context": "https://graph.microsoft.com/beta/$metadata#deviceManagement/configurationPolicies", "value": []}"#,
            Layout::GraphList,
        ),
        ("[]", Layout::Array),
    ] {
        let file = parse_policies(json.as_bytes(), "e.json").expect("readable");
        assert!(file.documents.is_empty());
        assert_eq!(
            file.notes,
            [Note::Empty {
                origin: "e.json".into(),
                layout
            }]
        );
        let note = file.notes[0].to_string();
        assert!(
            note.starts_with("policy 'e.json': holds no policy"),
            "{note}"
        );
    }
}

/// The error `bytes` give, whose message must be one line.
fn refusal(bytes: &[u8]) -> (PolicyError, String) {
    let error = parse_policies(bytes, "f.json").expect_err("a bad element");
    let message = error.to_string();
    assert!(!message.contains('\n'), "multi-line: {message}");
    (error, message)
}

fn export_files() -> Vec<Value> {
    exports().into_iter().map(|e| e.file).collect()
}

#[test]
fn a_device_configuration_profile_in_a_list_is_refused_naming_its_place() {
    let mut files = export_files();
    let profile = json!({
        "@odata.type": "#microsoft.graph.windows10EndpointProtectionConfiguration",
        "id": "9f0c…", "displayName": "Legacy endpoint protection",
        "defenderSecurityCenterDisableAppBrowserUI": true,
    });
    files.insert(2, profile.clone());
    let page = json!({"@odata.context": "x", "value": files});
    let (error, message) = refusal(page.to_string().as_bytes());
    assert!(
        matches!(
            &error,
            PolicyError::Invalid { origin, problem: ParseProblem::NotAPolicy(_), .. }
                if origin == "f.json#value[2]"
        ),
        "{error:?}"
    );
    assert_eq!(
        message,
        "policy 'f.json#value[2]': not an Intune endpoint-security or settings-catalog policy: this looks like a device configuration profile ('windows10EndpointProtectionConfiguration', deviceManagement/deviceConfigurations); rampart reads Graph's deviceManagement/configurationPolicies objects, one per file or a list of them"
    );
    // The same in an array, and in UTF-16.
    let array = Value::Array(vec![export_files()[0].clone(), profile]);
    let text = array.to_string();
    for (encoding, bytes) in encodings(&text) {
        let (_, message) = refusal(&bytes);
        assert!(
            message.starts_with("policy 'f.json#[1]': not an Intune"),
            "{encoding}: {message}"
        );
    }
}

#[test]
fn a_wrapper_string_that_is_not_json_is_refused_with_its_line_and_column() {
    let good = export_files()[0].clone();
    let broken = json!({"Displayname": "d", "RAWJson": "{\n  \"name\": \"n\",\n  oops\n}", "Type": "Catalog"});
    let (error, message) = refusal(json!([good, broken]).to_string().as_bytes());
    assert!(
        matches!(
            &error,
            PolicyError::Invalid {
                problem: ParseProblem::EmbeddedJson {
                    line: 3,
                    column: 3,
                    ..
                },
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        message,
        "policy 'f.json#[1]': RAWJson: embedded JSON is not valid at line 3 column 3: key must be a string"
    );
    // Two levels deep (a CIPP templates-table entity): the path names both strings.
    let entity = json!({"GUID": "g", "JSON": json!({"RAWJson": "{\"name\":"}).to_string()});
    let (_, message) = refusal(json!({"value": [entity]}).to_string().as_bytes());
    assert_eq!(
        message,
        "policy 'f.json#value[0]': JSON.RAWJson: embedded JSON is not valid at line 1 column 8: EOF while parsing a value"
    );
}

#[test]
fn a_list_with_an_element_that_is_not_an_object_is_refused_naming_it() {
    let mut files = export_files();
    files.insert(1, json!(42));
    let (error, message) = refusal(Value::Array(files.clone()).to_string().as_bytes());
    assert!(
        matches!(&error, PolicyError::Invalid { origin, problem: ParseProblem::WrongType { .. }, .. } if origin == "f.json#[1]"),
        "{error:?}"
    );
    assert_eq!(
        message,
        "policy 'f.json#[1]': expected an object, found a number"
    );
    files[1] = json!(["nested"]);
    let (_, message) = refusal(json!({"value": files}).to_string().as_bytes());
    assert_eq!(
        message,
        "policy 'f.json#value[1]': expected an object, found an array"
    );
}

#[test]
fn an_error_inside_an_element_points_at_that_element() {
    let mut files = export_files();
    files[3]["settings"][0]["settingInstance"]["@odata.type"] = json!("#microsoft.graph.foo");
    let (_, message) = refusal(json!({"value": files}).to_string().as_bytes());
    assert_eq!(
        message,
        "policy 'f.json#value[3]': settings[0].settingInstance: unknown @odata.type '#microsoft.graph.foo'"
    );
    // A file that is not JSON at all: the line and column of the file.
    let (error, _) = refusal(b"[\n  {\"name\": 1},\n  oops\n]");
    assert!(
        matches!(
            error,
            PolicyError::Syntax {
                line: 3,
                column: 3,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_cipp_template_of_another_type_is_refused_naming_the_type() {
    let item = json!({"TemplateJson": json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration"}).to_string(),
                      "DisplayName": "d", "Type": "Device"});
    let (_, message) = refusal(json!([item]).to_string().as_bytes());
    assert!(
        message.starts_with(
            "policy 'f.json#[0]': not an Intune endpoint-security or settings-catalog policy: this looks like a CIPP template of type 'Device'"
        ),
        "{message}"
    );
}

#[test]
fn parse_policy_refuses_a_file_of_several_policies() {
    let files = export_files();
    let error = parse_policy(json!({"value": files}).to_string().as_bytes(), "f.json")
        .expect_err("several");
    assert_eq!(
        error.to_string(),
        format!(
            "policy 'f.json': holds {} policies (a Graph list response) where exactly one is expected",
            files.len()
        )
    );
}
