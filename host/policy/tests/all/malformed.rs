//! Malformed policy documents: each gives one error line naming the file and the JSON path.

use rampart_policy::graph::{PolicyError, load_policy_file, parse_policy};

fn error(json: &str) -> String {
    let error = parse_policy(json.as_bytes(), "x.json").expect_err("malformed input");
    let message = error.to_string();
    assert!(!message.contains('\n'), "multi-line error: {message}");
    message
}

const CHOICE: &str = "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance";

fn policy(settings: &str) -> String {
    format!(
        r#"{{"id": "p", "name": "n", "platforms": "windows10", "technologies": "microsoftSense",
            "settings": {settings}}}"#
    )
}

#[test]
fn not_json() {
    assert_eq!(
        error("{\n  \"name\": \"n\",\n  oops\n}"),
        "policy 'x.json': not valid JSON at line 3 column 3: key must be a string"
    );
}

#[test]
fn missing_settings() {
    assert_eq!(
        error(r#"{"id": "p", "name": "n", "platforms": "windows10", "technologies": "mdm"}"#),
        "policy 'x.json': missing field 'settings'"
    );
}

#[test]
fn settings_of_the_wrong_type() {
    assert_eq!(
        error(&policy("{}")),
        "policy 'x.json': settings: expected an array, found an object"
    );
}

#[test]
fn unknown_odata_type() {
    let settings = r##"[{"id": "0", "settingInstance": {"@odata.type": "#microsoft.graph.foo",
        "settingDefinitionId": "a"}}]"##;
    assert_eq!(
        error(&policy(settings)),
        "policy 'x.json': settings[0].settingInstance: unknown @odata.type '#microsoft.graph.foo'"
    );
}

#[test]
fn choice_without_value_in_a_child() {
    let settings = format!(
        r#"[{{"id": "0", "settingInstance": {{"@odata.type": "{CHOICE}", "settingDefinitionId": "a",
            "choiceSettingValue": {{"value": "a_1", "children": [
              {{"@odata.type": "{CHOICE}", "settingDefinitionId": "b",
                "choiceSettingValue": {{"value": null, "children": []}}}}]}}}}}}]"#
    );
    assert_eq!(
        error(&policy(&settings)),
        "policy 'x.json': settings[0].settingInstance.choiceSettingValue.children[0].choiceSettingValue: missing field 'value'"
    );
}

#[test]
fn choice_without_choice_setting_value() {
    let settings = format!(
        r#"[{{"id": "0", "settingInstance": {{"@odata.type": "{CHOICE}", "settingDefinitionId": "a"}}}}]"#
    );
    assert_eq!(
        error(&policy(&settings)),
        "policy 'x.json': settings[0].settingInstance: missing field 'choiceSettingValue'"
    );
}

#[test]
fn a_cipp_wrapper_with_broken_embedded_json() {
    assert_eq!(
        error(r#"{"GUID": "g", "JSON": "{\"RAWJson\": "}"#),
        "policy 'x.json': JSON: embedded JSON is not valid at line 1 column 12: EOF while parsing a value"
    );
    assert_eq!(
        error(r#"{"GUID": "g", "JSON": "{\"Displayname\": \"d\"}"}"#),
        "policy 'x.json': JSON: missing field 'RAWJson'"
    );
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("broken.json");
    std::fs::write(&path, policy("[42]")).expect("writable");
    let message = load_policy_file(&path).expect_err("malformed").to_string();
    assert_eq!(
        message,
        format!(
            "policy '{}': settings[0]: expected an object, found a number",
            path.display()
        )
    );

    let missing = dir.path().join("absent.json");
    let error = load_policy_file(&missing).expect_err("absent file");
    assert!(matches!(error, PolicyError::Io { .. }));
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "policy '{}': cannot read file: ",
            missing.display()
        )),
        "{message}"
    );
}
