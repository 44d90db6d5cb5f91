//! Flattening a policy's setting tree into the typed settings plugins receive.
//!
//! [`flatten`] walks a [`PolicyDocument`] and resolves each node through the [`Catalog`]:
//!
//! | instance | result |
//! |---|---|
//! | choice | one setting whose value is the chosen option's `optionValue` ([`SettingValue::Integer`] or [`SettingValue::Text`]); its children follow, in the same group position |
//! | simple | [`SettingValue::Integer`], [`SettingValue::Text`] or [`SettingValue::Secret`], checked against the definition's range or maximum length |
//! | simple collection | [`SettingValue::TextList`] |
//! | choice collection | [`SettingValue::IntegerList`] when every option of the definition has an integer value, else [`SettingValue::TextList`]; the items' children follow |
//! | group collection | no setting for the group itself; the children of item *i* follow with [`GroupPosition`] `{ group id, i }` |
//! | group | no setting for the group itself; its children follow |
//!
//! Each setting is resolved on its own: an unknown definition, an unknown option, a value out of
//! range or a kind mismatch becomes a [`SettingProblem`] for that setting only, never a silent
//! drop, and never a failure of the whole policy. Children of a node with a problem are still
//! resolved; they are settings in their own right. Values come only from the catalog's option
//! values; nothing is cut out of an itemId.
//!
//! [`SettingValue::Boolean`] exists for the plugin contract; `flatten` does not produce it today,
//! because the Windows catalog has no boolean option values (firewall booleans are the strings
//! `"true"`/`"false"`).

use std::fmt;

use crate::catalog::{Catalog, Definition, DefinitionKind, OptionValue};
use crate::graph::{PolicyDocument, Secret, SettingInstance, SimpleValue};

/// A resolved setting value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// An integer.
    Integer(i64),
    /// A boolean.
    Boolean(bool),
    /// A string.
    Text(String),
    /// A list of strings.
    TextList(Vec<String>),
    /// A list of integers.
    IntegerList(Vec<i64>),
    /// A secret string; printed as `<redacted>`.
    Secret(Secret),
}

/// One line, for messages, golden files and reports: integers and booleans bare, strings in
/// double quotes (a `"` or control character escaped, so the line stays one line; backslashes are
/// kept as they are, Windows paths being full of them), lists in brackets, and a secret as
/// `<redacted>`.
impl fmt::Display for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::Integer(number) => write!(f, "{number}"),
            SettingValue::Boolean(flag) => write!(f, "{flag}"),
            SettingValue::Text(text) => write_quoted(f, text),
            SettingValue::TextList(texts) => {
                f.write_str("[")?;
                for (index, text) in texts.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write_quoted(f, text)?;
                }
                f.write_str("]")
            }
            SettingValue::IntegerList(numbers) => {
                f.write_str("[")?;
                for (index, number) in numbers.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{number}")?;
                }
                f.write_str("]")
            }
            SettingValue::Secret(secret) => write!(f, "{secret}"),
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            c if c.is_control() => write!(f, "{}", c.escape_default())?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// Which item of which repeating group a setting belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupPosition {
    /// The group collection's definition id.
    pub definition_id: String,
    /// The 0-based item index within the group collection.
    pub index: u32,
}

impl fmt::Display for GroupPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group '{}' item {}", self.definition_id, self.index)
    }
}

/// One setting ready for a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSetting {
    /// The setting definition id.
    pub id: String,
    /// The value.
    pub value: SettingValue,
    /// The innermost repeating group item holding the setting, if any.
    pub group: Option<GroupPosition>,
    /// The CSP node the definition names.
    pub csp_uri: Option<String>,
}

/// A setting that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting '{id}'{}: {kind}", .group.as_ref().map(|g| format!(" ({g})")).unwrap_or_default())]
pub struct SettingProblem {
    /// The setting definition id.
    pub id: String,
    /// The group item holding the setting, if any.
    pub group: Option<GroupPosition>,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// What is wrong with a setting. Values that may be secret are never included.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The catalog has no definition with this id.
    #[error("unknown setting definition")]
    UnknownDefinition,
    /// The chosen itemId is not an option of the definition.
    #[error("'{item_id}' is not an option of this setting")]
    UnknownOption {
        /// The itemId the policy holds.
        item_id: String,
    },
    /// An integer outside the definition's range.
    #[error("value {value} is outside the allowed range {min}..={max}")]
    OutOfRange {
        /// The value.
        value: i64,
        /// The inclusive minimum.
        min: i64,
        /// The inclusive maximum.
        max: i64,
    },
    /// The policy's instance or value does not have the shape the definition expects.
    #[error("the catalog expects {expected}, the policy holds {found}")]
    KindMismatch {
        /// What the catalog expects, e.g. "a choice setting" or "an integer".
        expected: &'static str,
        /// What the policy holds.
        found: &'static str,
    },
    /// A string longer than the definition allows.
    #[error("a value is {length} characters long, longer than the allowed {max}")]
    TooLong {
        /// The value's length in characters.
        length: usize,
        /// The maximum.
        max: u64,
    },
}

/// Resolves every setting of `doc` through `catalog`, in document order (a parent before its
/// children). See the [module documentation](self) for the rules.
pub fn flatten(
    doc: &PolicyDocument,
    catalog: &Catalog,
) -> Vec<Result<ResolvedSetting, SettingProblem>> {
    let mut flattener = Flattener {
        catalog,
        out: Vec::new(),
    };
    for instance in &doc.settings {
        flattener.instance(instance, None);
    }
    flattener.out
}

struct Flattener<'c> {
    catalog: &'c Catalog,
    out: Vec<Result<ResolvedSetting, SettingProblem>>,
}

/// The name of an instance kind, as in [`ProblemKind::KindMismatch`].
fn instance_kind_name(kind: DefinitionKind) -> &'static str {
    match kind {
        DefinitionKind::Choice => "a choice setting",
        DefinitionKind::Simple => "a simple setting",
        DefinitionKind::SimpleCollection => "a simple setting collection",
        DefinitionKind::ChoiceCollection => "a choice setting collection",
        DefinitionKind::Group => "a setting group",
        DefinitionKind::GroupCollection => "a setting group collection",
        DefinitionKind::Unknown => "a setting of unknown kind",
    }
}

fn simple_value_name(value: &SimpleValue) -> &'static str {
    match value {
        SimpleValue::Integer(_) => "an integer",
        SimpleValue::String(_) => "a string",
        SimpleValue::Secret(_) => "a secret",
    }
}

impl Flattener<'_> {
    fn instance(&mut self, instance: &SettingInstance, group: Option<&GroupPosition>) {
        let id = instance.definition_id();
        match instance {
            SettingInstance::Choice {
                value, children, ..
            } => {
                let result = self
                    .definition(id, DefinitionKind::Choice)
                    .and_then(|definition| option_value(definition, value))
                    .map(|value| match value {
                        OptionValue::Integer(number) => SettingValue::Integer(*number),
                        OptionValue::Text(text) => SettingValue::Text(text.clone()),
                    });
                self.push(id, group, result);
                for child in children {
                    self.instance(child, group);
                }
            }
            SettingInstance::Simple { value, .. } => {
                let result = self
                    .definition(id, DefinitionKind::Simple)
                    .and_then(|definition| simple(definition, value));
                self.push(id, group, result);
            }
            SettingInstance::SimpleCollection { values, .. } => {
                let result = self
                    .definition(id, DefinitionKind::SimpleCollection)
                    .and_then(|definition| text_list(definition, values));
                self.push(id, group, result);
            }
            SettingInstance::ChoiceCollection { values, .. } => {
                let result = self
                    .definition(id, DefinitionKind::ChoiceCollection)
                    .and_then(|definition| {
                        let chosen = values
                            .iter()
                            .map(|item| option_value(definition, &item.value))
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok(choice_list(definition, chosen))
                    });
                self.push(id, group, result);
                for item in values {
                    for child in &item.children {
                        self.instance(child, group);
                    }
                }
            }
            SettingInstance::GroupCollection { items, .. } => {
                // The group yields no setting, but an unknown or mismatched group is still
                // reported rather than passed over.
                if let Err(kind) = self.definition(id, DefinitionKind::GroupCollection) {
                    self.problem(id, group, kind);
                }
                for (index, children) in items.iter().enumerate() {
                    let position = GroupPosition {
                        definition_id: id.to_owned(),
                        // A policy with four billion group items is not a policy; saturate.
                        index: u32::try_from(index).unwrap_or(u32::MAX),
                    };
                    for child in children {
                        self.instance(child, Some(&position));
                    }
                }
            }
            SettingInstance::Group { children, .. } => {
                if let Err(kind) = self.definition(id, DefinitionKind::Group) {
                    self.problem(id, group, kind);
                }
                for child in children {
                    self.instance(child, group);
                }
            }
        }
    }

    /// The definition for `id`, checked against the instance's kind.
    fn definition(&self, id: &str, kind: DefinitionKind) -> Result<&Definition, ProblemKind> {
        let definition = self.catalog.get(id).ok_or(ProblemKind::UnknownDefinition)?;
        // A definition of a type this crate does not know cannot be checked; trust the policy.
        if definition.kind != kind && definition.kind != DefinitionKind::Unknown {
            return Err(ProblemKind::KindMismatch {
                expected: instance_kind_name(definition.kind),
                found: instance_kind_name(kind),
            });
        }
        Ok(definition)
    }

    fn push(
        &mut self,
        id: &str,
        group: Option<&GroupPosition>,
        result: Result<SettingValue, ProblemKind>,
    ) {
        match result {
            Ok(value) => {
                let csp_uri = self.catalog.get(id).and_then(|d| d.csp_uri.clone());
                self.out.push(Ok(ResolvedSetting {
                    id: id.to_owned(),
                    value,
                    group: group.cloned(),
                    csp_uri,
                }));
            }
            Err(kind) => self.problem(id, group, kind),
        }
    }

    fn problem(&mut self, id: &str, group: Option<&GroupPosition>, kind: ProblemKind) {
        self.out.push(Err(SettingProblem {
            id: id.to_owned(),
            group: group.cloned(),
            kind,
        }));
    }
}

fn option_value<'d>(
    definition: &'d Definition,
    item_id: &str,
) -> Result<&'d OptionValue, ProblemKind> {
    definition
        .options
        .get(item_id)
        .ok_or_else(|| ProblemKind::UnknownOption {
            item_id: item_id.to_owned(),
        })
}

fn simple(definition: &Definition, value: &SimpleValue) -> Result<SettingValue, ProblemKind> {
    match value {
        SimpleValue::Integer(number) => {
            // A definition with a length limit and no range is a string definition.
            if definition.range.is_none() && (definition.max_length.is_some() || definition.secret)
            {
                return Err(ProblemKind::KindMismatch {
                    expected: "a string",
                    found: "an integer",
                });
            }
            check_range(definition, *number)?;
            Ok(SettingValue::Integer(*number))
        }
        SimpleValue::String(text) => {
            check_is_text(definition, value)?;
            check_length(definition, text)?;
            // A secret definition keeps its value redacted even if the policy sent plain text.
            Ok(if definition.secret {
                SettingValue::Secret(Secret::new(text.clone()))
            } else {
                SettingValue::Text(text.clone())
            })
        }
        SimpleValue::Secret(secret) => {
            check_is_text(definition, value)?;
            check_length(definition, secret.expose())?;
            Ok(SettingValue::Secret(secret.clone()))
        }
    }
}

fn text_list(definition: &Definition, values: &[SimpleValue]) -> Result<SettingValue, ProblemKind> {
    let mut texts = Vec::with_capacity(values.len());
    for value in values {
        match value {
            SimpleValue::String(text) => {
                check_length(definition, text)?;
                texts.push(text.clone());
            }
            other => {
                return Err(ProblemKind::KindMismatch {
                    expected: "a list of strings",
                    found: simple_value_name(other),
                });
            }
        }
    }
    Ok(SettingValue::TextList(texts))
}

fn choice_list(definition: &Definition, chosen: Vec<&OptionValue>) -> SettingValue {
    // The list type follows the definition, not the selection, so it is the same whatever
    // options a policy picks.
    let integers: Option<Vec<i64>> = definition
        .options
        .values()
        .all(|option| matches!(option, OptionValue::Integer(_)))
        .then(|| {
            chosen
                .iter()
                .filter_map(|option| match option {
                    OptionValue::Integer(number) => Some(*number),
                    OptionValue::Text(_) => None,
                })
                .collect()
        });
    match integers {
        Some(numbers) => SettingValue::IntegerList(numbers),
        None => SettingValue::TextList(chosen.iter().map(|option| option.to_string()).collect()),
    }
}

fn check_is_text(definition: &Definition, value: &SimpleValue) -> Result<(), ProblemKind> {
    if definition.range.is_some() {
        return Err(ProblemKind::KindMismatch {
            expected: "an integer",
            found: simple_value_name(value),
        });
    }
    Ok(())
}

fn check_range(definition: &Definition, value: i64) -> Result<(), ProblemKind> {
    match definition.range {
        Some((min, max)) if value < min || value > max => {
            Err(ProblemKind::OutOfRange { value, min, max })
        }
        _ => Ok(()),
    }
}

fn check_length(definition: &Definition, text: &str) -> Result<(), ProblemKind> {
    let Some(max) = definition.max_length else {
        return Ok(());
    };
    let length = text.chars().count();
    if u64::try_from(length).map_or(true, |length| length > max) {
        return Err(ProblemKind::TooLong { length, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn definition(id: &str, kind: DefinitionKind) -> Definition {
        Definition {
            id: id.to_owned(),
            kind,
            csp_uri: Some(format!("./Test/{id}")),
            technologies: vec!["microsoftSense".to_owned()],
            options: BTreeMap::new(),
            range: None,
            max_length: None,
            secret: false,
        }
    }

    fn doc(settings: Vec<SettingInstance>) -> PolicyDocument {
        PolicyDocument {
            id: "p".into(),
            name: "p".into(),
            description: String::new(),
            platforms: "windows10".into(),
            technologies: vec!["microsoftSense".into()],
            template: None,
            settings,
            assignments: None,
            last_modified: None,
            origin: "test".into(),
        }
    }

    fn catalog() -> Catalog {
        let mut catalog = Catalog::new();
        let mut level = definition("level", DefinitionKind::Choice);
        level
            .options
            .insert("level_low".into(), OptionValue::Integer(2));
        level
            .options
            .insert("level_high".into(), OptionValue::Integer(6));
        catalog.insert(level);
        let mut timeout = definition("timeout", DefinitionKind::Simple);
        timeout.range = Some((0, 50));
        catalog.insert(timeout);
        let mut token = definition("token", DefinitionKind::Simple);
        token.max_length = Some(8);
        token.secret = true;
        catalog.insert(token);
        catalog.insert(definition("paths", DefinitionKind::SimpleCollection));
        let mut kinds = definition("kinds", DefinitionKind::ChoiceCollection);
        kinds
            .options
            .insert("kinds_a".into(), OptionValue::Integer(1));
        kinds
            .options
            .insert("kinds_b".into(), OptionValue::Integer(4));
        catalog.insert(kinds);
        catalog.insert(definition("rules", DefinitionKind::GroupCollection));
        catalog
    }

    fn choice(id: &str, value: &str, children: Vec<SettingInstance>) -> SettingInstance {
        SettingInstance::Choice {
            definition_id: id.into(),
            value: value.into(),
            children,
        }
    }

    fn simple(id: &str, value: SimpleValue) -> SettingInstance {
        SettingInstance::Simple {
            definition_id: id.into(),
            value,
        }
    }

    #[test]
    fn choice_values_come_from_the_catalog_not_the_item_id() {
        let out = flatten(
            &doc(vec![choice("level", "level_high", vec![])]),
            &catalog(),
        );
        assert_eq!(
            out,
            [Ok(ResolvedSetting {
                id: "level".into(),
                value: SettingValue::Integer(6),
                group: None,
                csp_uri: Some("./Test/level".into()),
            })]
        );
    }

    #[test]
    fn a_bad_setting_is_a_problem_for_that_setting_only() {
        let out = flatten(
            &doc(vec![
                simple("timeout", SimpleValue::Integer(51)),
                choice(
                    "level",
                    "level_7",
                    vec![simple("timeout", SimpleValue::Integer(5))],
                ),
                simple("nowhere", SimpleValue::Integer(1)),
                simple("timeout", SimpleValue::String("5".into())),
            ]),
            &catalog(),
        );
        let kinds: Vec<_> = out
            .iter()
            .map(|result| {
                result
                    .as_ref()
                    .map_err(|p| p.kind.clone())
                    .map(|s| s.value.clone())
            })
            .collect();
        assert_eq!(
            kinds,
            [
                Err(ProblemKind::OutOfRange {
                    value: 51,
                    min: 0,
                    max: 50
                }),
                Err(ProblemKind::UnknownOption {
                    item_id: "level_7".into()
                }),
                Ok(SettingValue::Integer(5)),
                Err(ProblemKind::UnknownDefinition),
                Err(ProblemKind::KindMismatch {
                    expected: "an integer",
                    found: "a string"
                }),
            ]
        );
    }

    #[test]
    fn group_items_carry_their_position() {
        let out = flatten(
            &doc(vec![SettingInstance::GroupCollection {
                definition_id: "rules".into(),
                items: vec![
                    vec![choice("level", "level_low", vec![])],
                    vec![choice("level", "level_high", vec![])],
                ],
            }]),
            &catalog(),
        );
        let positions: Vec<_> = out
            .iter()
            .map(|r| {
                r.as_ref()
                    .expect("resolves")
                    .group
                    .as_ref()
                    .map(|g| g.index)
            })
            .collect();
        assert_eq!(positions, [Some(0), Some(1)]);
    }

    #[test]
    fn collections_become_lists() {
        let out = flatten(
            &doc(vec![
                SettingInstance::SimpleCollection {
                    definition_id: "paths".into(),
                    values: vec![SimpleValue::String("C:\\a".into())],
                },
                SettingInstance::ChoiceCollection {
                    definition_id: "kinds".into(),
                    values: vec![crate::graph::ChoiceItem {
                        value: "kinds_b".into(),
                        children: vec![],
                    }],
                },
            ]),
            &catalog(),
        );
        let values: Vec<_> = out
            .into_iter()
            .map(|r| r.expect("resolves").value)
            .collect();
        assert_eq!(
            values,
            [
                SettingValue::TextList(vec!["C:\\a".into()]),
                SettingValue::IntegerList(vec![4]),
            ]
        );
    }

    #[test]
    fn secrets_stay_secret_and_too_long_values_name_no_content() {
        let out = flatten(
            &doc(vec![
                simple("token", SimpleValue::String("abc".into())),
                simple("token", SimpleValue::Secret(Secret::new("far-too-long"))),
            ]),
            &catalog(),
        );
        assert_eq!(
            out[0].as_ref().map(|s| &s.value),
            Ok(&SettingValue::Secret(Secret::new("abc")))
        );
        let problem = out[1].as_ref().expect_err("too long");
        assert_eq!(
            problem.to_string(),
            "setting 'token': a value is 12 characters long, longer than the allowed 8"
        );
        assert!(!format!("{out:?}").contains("far-too-long"));
    }

    #[test]
    fn values_display_on_one_line_and_secrets_stay_redacted() {
        let shown = [
            SettingValue::Integer(-5).to_string(),
            SettingValue::Boolean(true).to_string(),
            SettingValue::Text("C:\\Temp\\\"x\"\n".into()).to_string(),
            SettingValue::TextList(vec!["a".into(), "b".into()]).to_string(),
            SettingValue::IntegerList(vec![1, 2]).to_string(),
            SettingValue::TextList(vec![]).to_string(),
            SettingValue::Secret(Secret::new("hunter2")).to_string(),
        ];
        assert_eq!(
            shown,
            [
                "-5",
                "true",
                r#""C:\Temp\\"x\"\n""#,
                r#"["a", "b"]"#,
                "[1, 2]",
                "[]",
                "<redacted>"
            ]
        );
    }

    #[test]
    fn problem_messages_name_the_group_item() {
        let problem = SettingProblem {
            id: "x".into(),
            group: Some(GroupPosition {
                definition_id: "rules".into(),
                index: 2,
            }),
            kind: ProblemKind::UnknownDefinition,
        };
        assert_eq!(
            problem.to_string(),
            "setting 'x' (group 'rules' item 2): unknown setting definition"
        );
    }
}
