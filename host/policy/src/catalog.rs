//! The settings catalog: what each Intune setting definition is, and what its options stand for.
//!
//! A policy holds option *itemIds* such as
//! `device_vendor_msft_policy_config_defender_cloudblocklevel_2`; the value the device receives
//! is that option's `optionValue` in the definition (here the integer 2, for ASR rules a string
//! such as `"56a863a9-…=1"`, for firewall booleans the string `"true"`). The catalog is where
//! that mapping lives; nothing in rampart cuts a value out of an itemId.
//!
//! Catalogs come from three places:
//!
//! - [`Catalog::embedded`]: the Windows Defender, Linux and macOS catalogs compiled into this
//!   crate, written in a compact TOML format documented at the top of
//!   `catalog/windows-defender.toml` ([`Catalog::from_compact_toml`] reads the same format).
//! - [`Catalog::from_graph_definitions_json`]: Graph `deviceManagementConfigurationSettingDefinition`
//!   objects, either as Graph returns them or reduced as in the shared research seed
//!   (`{"definitions": [{"id", "@odata.type", "csp_uri", "technologies", "options", "valueDefinition"}]}`).
//! - [`Catalog::extend`], to layer a newer catalog over the embedded one.
//!
//! A catalog also says how a setting combines when several policies set it: its [`MergeRule`],
//! declared per definition with `merge` in the compact format ([`Catalog::merge_rule`]). Merge
//! rules are rampart's, not Microsoft's: Graph definitions carry none, so a catalog read from
//! them, or assembled with [`Catalog::insert`], merges the settings the embedded catalog declares
//! rules for as the embedded catalog does.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::graph::{graph_type_name, json_type, split_flags};
use crate::json_path::JsonPath;
use crate::text_position::{json_error_parts, toml_error_parts};

/// The compact catalogs compiled into the crate, as (origin, text): Windows Defender, Linux and
/// macOS. A definition id may appear in only one of them.
const EMBEDDED_SOURCES: [(&str, &str); 3] = [
    (
        "catalog/windows-defender.toml",
        include_str!("../catalog/windows-defender.toml"),
    ),
    ("catalog/linux.toml", include_str!("../catalog/linux.toml")),
    ("catalog/macos.toml", include_str!("../catalog/macos.toml")),
];

/// The embedded catalog, parsed once per process.
static EMBEDDED: LazyLock<Catalog> = LazyLock::new(|| {
    // The files are part of the crate and a unit test parses them, so this cannot fail at run
    // time unless the crate itself was built from a broken file.
    load_embedded()
        .unwrap_or_else(|error| panic!("the embedded settings catalog is invalid: {error}"))
});

/// Parses every embedded source into one catalog, refusing an id defined in two files.
fn load_embedded() -> Result<Catalog, CatalogError> {
    let mut catalog = Catalog::new();
    for (origin, text) in EMBEDDED_SOURCES {
        let part = Catalog::from_compact_toml(text, origin)?;
        // A source declares rules for its own definitions only, and no id is in two sources.
        Arc::make_mut(&mut catalog.merge_rules).extend(
            part.merge_rules
                .iter()
                .map(|(id, rule)| (id.clone(), rule.clone())),
        );
        for definition in part.into_definitions() {
            catalog.insert_new(origin, definition)?;
        }
    }
    Ok(catalog)
}

/// A set of setting definitions, keyed by definition id.
///
/// Cloning is cheap: the definitions are shared until a clone is changed, so
/// [`Catalog::embedded`] costs a reference count, not a copy of the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    definitions: Arc<BTreeMap<String, Definition>>,
    /// The merge rules this catalog declares, by definition id.
    merge_rules: Arc<BTreeMap<String, MergeRule>>,
}

/// One setting definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The definition id, e.g. `device_vendor_msft_policy_config_defender_allowrealtimemonitoring`.
    pub id: String,
    /// What shape of setting instance the definition expects.
    pub kind: DefinitionKind,
    /// The CSP node the setting writes (`baseUri + offsetUri`), when known.
    pub csp_uri: Option<String>,
    /// The channels that may deliver the setting, e.g. `["mdm", "microsoftSense"]`.
    pub technologies: Vec<String>,
    /// For choices: option itemId → the value it stands for.
    pub options: BTreeMap<String, OptionValue>,
    /// For integers: the inclusive allowed range.
    pub range: Option<(i64, i64)>,
    /// For strings: the maximum length of one value, in characters.
    pub max_length: Option<u64>,
    /// Whether Graph treats the value as a secret.
    pub secret: bool,
}

/// The shape of a setting definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefinitionKind {
    /// One option of an enumeration.
    Choice,
    /// One integer or string.
    Simple,
    /// A list of integers or strings.
    SimpleCollection,
    /// Several options of an enumeration.
    ChoiceCollection,
    /// A group of child settings.
    Group,
    /// A repeating group of child settings.
    GroupCollection,
    /// A definition type this crate does not know; instances are not kind-checked against it.
    Unknown,
}

impl DefinitionKind {
    /// A lowercase name for messages, e.g. `choice collection`.
    pub fn as_str(self) -> &'static str {
        match self {
            DefinitionKind::Choice => "choice",
            DefinitionKind::Simple => "simple",
            DefinitionKind::SimpleCollection => "simple collection",
            DefinitionKind::ChoiceCollection => "choice collection",
            DefinitionKind::Group => "group",
            DefinitionKind::GroupCollection => "group collection",
            DefinitionKind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for DefinitionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value an option stands for (Graph `optionValue`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OptionValue {
    /// An integer, as for most Defender settings.
    Integer(i64),
    /// A string, as for ASR rules (`"<GUID>=<action>"`) and firewall booleans (`"true"`).
    Text(String),
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Integer(value) => write!(f, "{value}"),
            OptionValue::Text(text) => f.write_str(text),
        }
    }
}

/// How one setting combines when several policies set it (compact format: `merge`). A setting
/// without a merge rule does not combine: two policies that give it different values conflict,
/// and neither value is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MergeRule {
    /// `union`, `union-ignore-case` (text lists): the policies' lists add up into one list, in
    /// first-seen order (policy order, then list order), without repeats. With `ignore_case`,
    /// entries that differ only in letter case are repeats and the first spelling is kept.
    Union {
        /// Whether entries are compared ignoring letter case.
        ignore_case: bool,
    },
    /// `items`, `items-ignore-case` (group collections whose items each stand for one thing,
    /// such as one exclusion): the policies' items add up, and identical items, from any policy,
    /// are one item.
    Items {
        /// Whether items are compared ignoring letter case.
        ignore_case: bool,
    },
    /// `keyed`, `keyed-ignore-case` (group collections whose items are identified by one of
    /// their settings, such as firewall rules by name): items with the same key and the same
    /// settings are one item; the same key with different settings is a conflict for that item
    /// alone. An item is applied whole or not at all.
    Keyed {
        /// The child definition whose value identifies an item: `<group id>_<merge-key>`.
        key: String,
        /// Whether keys are compared ignoring letter case.
        ignore_case: bool,
        /// What messages call one item, e.g. `firewall rule` (`merge-label`, default `item`).
        label: String,
    },
    /// `asr-rules` (the attack surface reduction rules group collection): values of the form
    /// `<GUID>=<action>` merge per rule GUID, compared ignoring case, so policies that give a
    /// rule the same action enforce it once and different actions conflict. The group's other
    /// settings (per-rule exclusions) do not merge: they conflict when they differ, whatever
    /// item holds them.
    AsrRules,
}

impl MergeRule {
    /// The compact format's name of the rule, e.g. `union-ignore-case`.
    pub fn name(&self) -> &'static str {
        match self {
            MergeRule::Union { ignore_case: false } => "union",
            MergeRule::Union { ignore_case: true } => "union-ignore-case",
            MergeRule::Items { ignore_case: false } => "items",
            MergeRule::Items { ignore_case: true } => "items-ignore-case",
            MergeRule::Keyed {
                ignore_case: false, ..
            } => "keyed",
            MergeRule::Keyed {
                ignore_case: true, ..
            } => "keyed-ignore-case",
            MergeRule::AsrRules => "asr-rules",
        }
    }
}

/// Why a catalog could not be read. Every message is one line naming the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The file could not be read.
    #[error("catalog '{}': cannot read file: {source}", .path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The source is not valid JSON or TOML.
    #[error("catalog '{origin}': not valid {format} at line {line} column {column}: {message}")]
    Syntax {
        /// The file or label.
        origin: String,
        /// `JSON` or `TOML`.
        format: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// A definition is malformed.
    #[error("catalog '{origin}': {path}: {problem}")]
    Invalid {
        /// The file or label.
        origin: String,
        /// Where, e.g. `definitions[3].options[1]` or `block[0].settings[4] ('puaprotection')`.
        path: String,
        /// What is wrong there.
        problem: CatalogProblem,
    },
    /// Two definitions in one source share an id.
    #[error("catalog '{origin}': duplicate definition id '{id}'")]
    Duplicate {
        /// The file or label.
        origin: String,
        /// The repeated id.
        id: String,
    },
}

/// What is wrong with one definition (see [`CatalogError::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogProblem {
    /// A required member is absent or `null`.
    #[error("missing field '{0}'")]
    MissingField(&'static str),
    /// A value has the wrong JSON type.
    #[error("'{field}': expected {expected}, found {found}")]
    WrongType {
        /// The member.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// A choice definition without options.
    #[error("{kind} definitions need options")]
    NoOptions {
        /// The compact kind name.
        kind: &'static str,
    },
    /// A field that does not belong to the definition's kind.
    #[error("'{field}' does not apply to {kind} definitions")]
    FieldNotAllowed {
        /// The field.
        field: &'static str,
        /// The compact kind name.
        kind: &'static str,
    },
    /// A range whose minimum exceeds its maximum.
    #[error("range [{min}, {max}] is empty")]
    EmptyRange {
        /// The minimum.
        min: i64,
        /// The maximum.
        max: i64,
    },
    /// An ASR rule GUID that is not of the form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    #[error("'{0}' is not a GUID")]
    NotAGuid(String),
    /// A merge rule on a definition kind it cannot combine.
    #[error("merge '{merge}' does not apply to {kind} definitions, only to {applies_to}")]
    MergeNotAllowed {
        /// The merge rule's name.
        merge: &'static str,
        /// The compact kind name of the definition.
        kind: &'static str,
        /// The kinds the rule applies to.
        applies_to: &'static str,
    },
    /// A keyed merge without `merge-key`.
    #[error("merge '{0}' needs 'merge-key', the child setting that identifies an item")]
    MissingMergeKey(&'static str),
    /// `merge-key` or `merge-label` without a keyed merge.
    #[error("'{0}' applies only to merge = \"keyed\" or \"keyed-ignore-case\"")]
    NotKeyed(&'static str),
    /// A keyed merge whose key names no definition of the same source.
    #[error("merge-key '{key}': no definition '{id}' in this catalog")]
    MergeKeyNotFound {
        /// The `merge-key` as written.
        key: String,
        /// The definition it names.
        id: String,
    },
    /// A keyed merge whose key is a definition without one single value.
    #[error(
        "merge-key '{key}': '{id}' is a {kind} definition; a key must hold one value (text, integer or choice)"
    )]
    MergeKeyNotSingle {
        /// The `merge-key` as written.
        key: String,
        /// The definition it names.
        id: String,
        /// That definition's kind.
        kind: DefinitionKind,
    },
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Catalog::default()
    }

    /// The catalog compiled into the crate: `catalog/windows-defender.toml` (the antivirus,
    /// Defender CSP, ASR rules with per-rule exclusions, exclusion lists, EDR and Windows
    /// Firewall profile settings) together with `catalog/linux.toml` and `catalog/macos.toml`
    /// (the Defender for Endpoint settings of those platforms).
    pub fn embedded() -> Catalog {
        EMBEDDED.clone()
    }

    /// Reads Graph setting definitions from JSON: either `{"definitions": [...]}` (the shared
    /// research seed's layout), Graph's own `{"value": [...]}` page, or a bare array.
    ///
    /// Each definition needs `id` and `@odata.type` (an unknown type gives
    /// [`DefinitionKind::Unknown`]). The CSP URI is `csp_uri`, else `baseUri + offsetUri`; the
    /// channels are `technologies`, else `applicability.technologies`; an option's
    /// `optionValue` may be a bare integer or string, or Graph's `{"value": ...}` object.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Syntax`] for bad JSON, [`CatalogError::Invalid`] for a malformed
    /// definition, [`CatalogError::Duplicate`] for a repeated id.
    pub fn from_graph_definitions_json(bytes: &[u8]) -> Result<Catalog, CatalogError> {
        graph_json::parse(bytes, "graph definitions")
    }

    /// Reads a Graph definitions JSON file; see [`Catalog::from_graph_definitions_json`].
    ///
    /// # Errors
    ///
    /// [`CatalogError::Io`] when the file cannot be read, otherwise as
    /// [`Catalog::from_graph_definitions_json`], naming the file.
    pub fn load_graph_definitions_file(path: &Path) -> Result<Catalog, CatalogError> {
        let bytes = std::fs::read(path).map_err(|source| CatalogError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        graph_json::parse(&bytes, &path.display().to_string())
    }

    /// Reads the compact TOML format of the embedded catalog (documented at the top of
    /// `catalog/windows-defender.toml`). `origin` names the source in errors.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Syntax`] for bad TOML, unknown keys or an unknown merge rule,
    /// [`CatalogError::Invalid`] for a definition whose fields or merge rule do not fit its kind
    /// or a keyed merge whose key is not a single-valued definition of `text`,
    /// [`CatalogError::Duplicate`] for a repeated id.
    pub fn from_compact_toml(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        compact::parse(text, origin)
    }

    /// The definition with this id.
    pub fn get(&self, id: &str) -> Option<&Definition> {
        self.definitions.get(id)
    }

    /// How the setting `id` combines across policies: the merge rule this catalog declares for
    /// it, else the one [`Catalog::embedded`] declares (Graph definitions carry no merge rules,
    /// so a catalog read from them or assembled with [`Catalog::insert`] merges as the embedded
    /// one does). `None`: the setting does not combine, and different values conflict.
    ///
    /// For a group collection the rule covers the settings of its items; the resolve stage
    /// looks a setting up by its own id (`union`) and by its group's id (the other rules).
    pub fn merge_rule(&self, id: &str) -> Option<&MergeRule> {
        self.merge_rules
            .get(id)
            .or_else(|| EMBEDDED.merge_rules.get(id))
    }

    /// Adds or replaces a definition, returning the one it replaced. A merge rule the catalog
    /// declares for the id stays.
    pub fn insert(&mut self, definition: Definition) -> Option<Definition> {
        Arc::make_mut(&mut self.definitions).insert(definition.id.clone(), definition)
    }

    /// Adds every definition and merge rule of `other`; where both define an id, `other` wins,
    /// so a newer catalog can be layered over [`Catalog::embedded`]. A merge rule stays unless
    /// `other` declares another for the id (Graph definitions declare none).
    pub fn extend(&mut self, other: Catalog) {
        if !other.merge_rules.is_empty() {
            Arc::make_mut(&mut self.merge_rules).extend(
                other
                    .merge_rules
                    .iter()
                    .map(|(id, rule)| (id.clone(), rule.clone())),
            );
        }
        Arc::make_mut(&mut self.definitions)
            .extend(other.into_definitions().map(|d| (d.id.clone(), d)));
    }

    /// The number of definitions.
    pub fn len(&self) -> usize {
        self.definitions.len()
    }

    /// Whether the catalog has no definitions.
    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty()
    }

    /// The definitions, ordered by id.
    pub fn iter(&self) -> impl Iterator<Item = &Definition> {
        self.definitions.values()
    }

    /// The definitions, ordered by id, taken out of the catalog (copied only if shared).
    fn into_definitions(self) -> impl Iterator<Item = Definition> {
        Arc::unwrap_or_clone(self.definitions).into_values()
    }

    /// Inserts a definition read from `origin`, refusing a second one with the same id.
    fn insert_new(&mut self, origin: &str, definition: Definition) -> Result<(), CatalogError> {
        if self.definitions.contains_key(&definition.id) {
            return Err(CatalogError::Duplicate {
                origin: origin.to_owned(),
                id: definition.id,
            });
        }
        self.insert(definition);
        Ok(())
    }
}

/// Reading Graph definition objects.
mod graph_json {
    use super::*;

    pub(super) fn parse(bytes: &[u8], origin: &str) -> Result<Catalog, CatalogError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let value: Value = serde_json::from_slice(bytes).map_err(|error| {
            let (line, column, message) = json_error_parts(&error);
            CatalogError::Syntax {
                origin: origin.to_owned(),
                format: "JSON",
                line,
                column,
                message,
            }
        })?;
        let reader = Reader { origin };
        let root = JsonPath::Root;
        let (list, list_path) = match &value {
            Value::Array(list) => (list, JsonPath::Root),
            Value::Object(object) => match (object.get("definitions"), object.get("value")) {
                (Some(Value::Array(list)), _) => (list, root.key("definitions")),
                (None, Some(Value::Array(list))) => (list, root.key("value")),
                _ => {
                    return Err(reader.invalid(&root, CatalogProblem::MissingField("definitions")));
                }
            },
            other => return Err(reader.wrong_type(&root, "definitions", "an object", other)),
        };
        let mut catalog = Catalog::new();
        for (index, definition) in list.iter().enumerate() {
            let definition = reader.definition(definition, &list_path.index(index))?;
            catalog.insert_new(origin, definition)?;
        }
        Ok(catalog)
    }

    struct Reader<'o> {
        origin: &'o str,
    }

    impl Reader<'_> {
        fn invalid(&self, path: &JsonPath<'_>, problem: CatalogProblem) -> CatalogError {
            CatalogError::Invalid {
                origin: self.origin.to_owned(),
                path: path.to_string(),
                problem,
            }
        }

        fn wrong_type(
            &self,
            path: &JsonPath<'_>,
            field: &'static str,
            expected: &'static str,
            found: &Value,
        ) -> CatalogError {
            self.invalid(
                path,
                CatalogProblem::WrongType {
                    field,
                    expected,
                    found: json_type(found),
                },
            )
        }

        fn string<'v>(
            &self,
            object: &'v Map<String, Value>,
            field: &'static str,
            path: &JsonPath<'_>,
        ) -> Result<Option<&'v str>, CatalogError> {
            match object.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text)),
                Some(other) => Err(self.wrong_type(path, field, "a string", other)),
            }
        }

        fn required_string<'v>(
            &self,
            object: &'v Map<String, Value>,
            field: &'static str,
            path: &JsonPath<'_>,
        ) -> Result<&'v str, CatalogError> {
            self.string(object, field, path)?
                .ok_or_else(|| self.invalid(path, CatalogProblem::MissingField(field)))
        }

        fn integer(
            &self,
            object: &Map<String, Value>,
            field: &'static str,
            path: &JsonPath<'_>,
        ) -> Result<Option<i64>, CatalogError> {
            match object.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(number)) => number.as_i64().map(Some).ok_or_else(|| {
                    self.invalid(
                        path,
                        CatalogProblem::WrongType {
                            field,
                            expected: "a 64-bit integer",
                            found: "a number outside that range",
                        },
                    )
                }),
                Some(other) => Err(self.wrong_type(path, field, "an integer", other)),
            }
        }

        fn definition(
            &self,
            value: &Value,
            path: &JsonPath<'_>,
        ) -> Result<Definition, CatalogError> {
            let object = value
                .as_object()
                .ok_or_else(|| self.wrong_type(path, "definition", "an object", value))?;
            let id = self.required_string(object, "id", path)?;
            let kind = kind_of(self.required_string(object, "@odata.type", path)?);
            let csp_uri = match self.string(object, "csp_uri", path)? {
                Some(uri) => Some(uri.to_owned()),
                None => match (
                    self.string(object, "baseUri", path)?,
                    self.string(object, "offsetUri", path)?,
                ) {
                    (Some(base), Some(offset)) => Some(format!("{base}{offset}")),
                    _ => None,
                },
            };
            let technologies = match self.string(object, "technologies", path)? {
                Some(flags) => split_flags(flags),
                None => match object.get("applicability").and_then(Value::as_object) {
                    Some(applicability) => self
                        .string(applicability, "technologies", &path.key("applicability"))?
                        .map(split_flags)
                        .unwrap_or_default(),
                    None => Vec::new(),
                },
            };

            let mut options = BTreeMap::new();
            let options_path = path.key("options");
            match object.get("options") {
                None | Some(Value::Null) => {}
                Some(Value::Array(list)) => {
                    for (index, option) in list.iter().enumerate() {
                        let option_path = options_path.index(index);
                        let (item_id, value) = self.option(option, &option_path)?;
                        options.insert(item_id, value);
                    }
                }
                Some(other) => return Err(self.wrong_type(path, "options", "an array", other)),
            }

            let (mut range, mut max_length, mut secret) = (None, None, false);
            let value_path = path.key("valueDefinition");
            match object.get("valueDefinition") {
                None | Some(Value::Null) => {}
                Some(Value::Object(value_definition)) => {
                    let min = self.integer(value_definition, "minimumValue", &value_path)?;
                    let max = self.integer(value_definition, "maximumValue", &value_path)?;
                    if min.is_some() || max.is_some() {
                        range = Some((min.unwrap_or(i64::MIN), max.unwrap_or(i64::MAX)));
                    }
                    max_length = self
                        .integer(value_definition, "maximumLength", &value_path)?
                        .map(|length| u64::try_from(length).unwrap_or(0));
                    secret = match value_definition.get("isSecret") {
                        None | Some(Value::Null) => false,
                        Some(Value::Bool(flag)) => *flag,
                        Some(other) => {
                            return Err(self.wrong_type(
                                &value_path,
                                "isSecret",
                                "a boolean",
                                other,
                            ));
                        }
                    };
                }
                Some(other) => {
                    return Err(self.wrong_type(path, "valueDefinition", "an object", other));
                }
            }

            Ok(Definition {
                id: id.to_owned(),
                kind,
                csp_uri,
                technologies,
                options,
                range,
                max_length,
                secret,
            })
        }

        fn option(
            &self,
            value: &Value,
            path: &JsonPath<'_>,
        ) -> Result<(String, OptionValue), CatalogError> {
            let object = value
                .as_object()
                .ok_or_else(|| self.wrong_type(path, "option", "an object", value))?;
            let item_id = self.required_string(object, "itemId", path)?;
            let raw = match object.get("optionValue") {
                // Graph proper wraps the value: {"@odata.type": "...IntegerSettingValue", "value": 1}.
                Some(Value::Object(wrapped)) => wrapped.get("value"),
                other => other,
            };
            let value = match raw {
                Some(Value::Number(number)) => number.as_i64().map(OptionValue::Integer),
                Some(Value::String(text)) => Some(OptionValue::Text(text.clone())),
                _ => None,
            };
            let value = value.ok_or_else(|| {
                let found = raw.map_or("nothing", json_type);
                self.invalid(
                    path,
                    CatalogProblem::WrongType {
                        field: "optionValue",
                        expected: "an integer or a string",
                        found,
                    },
                )
            })?;
            Ok((item_id.to_owned(), value))
        }
    }

    fn kind_of(odata_type: &str) -> DefinitionKind {
        match graph_type_name(odata_type) {
            "deviceManagementConfigurationChoiceSettingDefinition" => DefinitionKind::Choice,
            "deviceManagementConfigurationSimpleSettingDefinition" => DefinitionKind::Simple,
            "deviceManagementConfigurationSimpleSettingCollectionDefinition" => {
                DefinitionKind::SimpleCollection
            }
            "deviceManagementConfigurationChoiceSettingCollectionDefinition" => {
                DefinitionKind::ChoiceCollection
            }
            "deviceManagementConfigurationSettingGroupDefinition" => DefinitionKind::Group,
            "deviceManagementConfigurationSettingGroupCollectionDefinition" => {
                DefinitionKind::GroupCollection
            }
            _ => DefinitionKind::Unknown,
        }
    }
}

/// Reading the compact TOML format (see the header of `catalog/windows-defender.toml`).
mod compact {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct File {
        #[serde(default)]
        block: Vec<Block>,
        asr: Option<Asr>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Block {
        #[serde(default)]
        id_prefix: String,
        #[serde(default)]
        csp_prefix: String,
        #[serde(default)]
        technologies: String,
        settings: Vec<Entry>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Entry {
        id: String,
        kind: Kind,
        csp: Option<String>,
        technologies: Option<String>,
        options: Option<BTreeMap<String, RawOption>>,
        range: Option<(i64, i64)>,
        max_length: Option<u64>,
        secret: Option<bool>,
        merge: Option<Merge>,
        merge_key: Option<String>,
        merge_label: Option<String>,
    }

    /// A `merge` value (see [`MergeRule`] for what each one does).
    #[derive(Debug, Clone, Copy, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    enum Merge {
        Union,
        UnionIgnoreCase,
        Items,
        ItemsIgnoreCase,
        Keyed,
        KeyedIgnoreCase,
        AsrRules,
    }

    #[derive(Debug, Clone, Copy, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    enum Kind {
        Choice,
        Integer,
        Text,
        TextList,
        ChoiceList,
        Group,
        GroupCollection,
    }

    impl Kind {
        fn name(self) -> &'static str {
            match self {
                Kind::Choice => "choice",
                Kind::Integer => "integer",
                Kind::Text => "text",
                Kind::TextList => "text-list",
                Kind::ChoiceList => "choice-list",
                Kind::Group => "group",
                Kind::GroupCollection => "group-collection",
            }
        }

        fn definition_kind(self) -> DefinitionKind {
            match self {
                Kind::Choice => DefinitionKind::Choice,
                Kind::Integer | Kind::Text => DefinitionKind::Simple,
                Kind::TextList => DefinitionKind::SimpleCollection,
                Kind::ChoiceList => DefinitionKind::ChoiceCollection,
                Kind::Group => DefinitionKind::Group,
                Kind::GroupCollection => DefinitionKind::GroupCollection,
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum RawOption {
        Integer(i64),
        Text(String),
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Asr {
        group: String,
        csp: String,
        technologies: String,
        exclusions_csp: String,
        exclusions_technologies: String,
        exclusions_max_length: Option<u64>,
        merge: Option<Merge>,
        merge_key: Option<String>,
        merge_label: Option<String>,
        rules: Vec<AsrRule>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct AsrRule {
        rule: String,
        guid: String,
        technologies: Option<String>,
        #[serde(default = "yes")]
        per_rule_exclusions: bool,
    }

    fn yes() -> bool {
        true
    }

    /// The ASR CSP action codes, by option suffix.
    const ASR_ACTIONS: [(&str, u8); 4] = [("off", 0), ("block", 1), ("audit", 2), ("warn", 6)];

    pub(super) fn parse(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let file: File = toml::from_str(text).map_err(|error| {
            let (line, column, message) = toml_error_parts(&error, text);
            CatalogError::Syntax {
                origin: origin.to_owned(),
                format: "TOML",
                line,
                column,
                message,
            }
        })?;
        let invalid = |path: &str, problem| CatalogError::Invalid {
            origin: origin.to_owned(),
            path: path.to_owned(),
            problem,
        };
        let mut catalog = Catalog::new();
        let mut rules: Vec<(String, String, MergeRule)> = Vec::new();
        for (block_index, block) in file.block.iter().enumerate() {
            for (index, entry) in block.settings.iter().enumerate() {
                let path = format!("block[{block_index}].settings[{index}] ('{}')", entry.id);
                let definition =
                    expand_entry(block, entry).map_err(|problem| invalid(&path, problem))?;
                let rule = merge_rule(
                    &definition.id,
                    entry.kind,
                    entry.merge,
                    entry.merge_key.as_deref(),
                    entry.merge_label.as_deref(),
                )
                .map_err(|problem| invalid(&path, problem))?;
                if let Some(rule) = rule {
                    rules.push((path, definition.id.clone(), rule));
                }
                catalog.insert_new(origin, definition)?;
            }
        }
        if let Some(asr) = &file.asr {
            let rule = merge_rule(
                &asr.group,
                Kind::GroupCollection,
                asr.merge,
                asr.merge_key.as_deref(),
                asr.merge_label.as_deref(),
            )
            .map_err(|problem| invalid("asr", problem))?;
            if let Some(rule) = rule {
                rules.push(("asr".to_owned(), asr.group.clone(), rule));
            }
            for definition in expand_asr(asr, origin)? {
                catalog.insert_new(origin, definition)?;
            }
        }
        // Keys are checked once every definition is in: a group's children follow it.
        for (path, id, rule) in rules {
            if let MergeRule::Keyed { key, .. } = &rule {
                let written = key
                    .strip_prefix(&format!("{id}_"))
                    .unwrap_or(key)
                    .to_owned();
                match catalog.get(key).map(|definition| definition.kind) {
                    None => {
                        let problem = CatalogProblem::MergeKeyNotFound {
                            key: written,
                            id: key.clone(),
                        };
                        return Err(invalid(&path, problem));
                    }
                    Some(DefinitionKind::Simple | DefinitionKind::Choice) => {}
                    Some(kind) => {
                        let problem = CatalogProblem::MergeKeyNotSingle {
                            key: written,
                            id: key.clone(),
                            kind,
                        };
                        return Err(invalid(&path, problem));
                    }
                }
            }
            Arc::make_mut(&mut catalog.merge_rules).insert(id, rule);
        }
        Ok(catalog)
    }

    /// The merge rule declared for the definition `id` of kind `kind`: checked against the kind,
    /// with `merge-key` (required) and `merge-label` for keyed merges only. Whether the key names
    /// a definition is checked once the whole source is read.
    fn merge_rule(
        id: &str,
        kind: Kind,
        merge: Option<Merge>,
        key: Option<&str>,
        label: Option<&str>,
    ) -> Result<Option<MergeRule>, CatalogProblem> {
        let ignore_case = matches!(
            merge,
            Some(Merge::UnionIgnoreCase | Merge::ItemsIgnoreCase | Merge::KeyedIgnoreCase)
        );
        let rule = match merge {
            None => None,
            Some(Merge::Union | Merge::UnionIgnoreCase) => Some(MergeRule::Union { ignore_case }),
            Some(Merge::Items | Merge::ItemsIgnoreCase) => Some(MergeRule::Items { ignore_case }),
            Some(Merge::Keyed | Merge::KeyedIgnoreCase) => Some(MergeRule::Keyed {
                key: format!("{id}_{}", key.unwrap_or_default()),
                ignore_case,
                label: label.unwrap_or("item").to_owned(),
            }),
            Some(Merge::AsrRules) => Some(MergeRule::AsrRules),
        };
        if let Some(rule) = &rule {
            let (fits, applies_to) = match rule {
                MergeRule::Union { .. } => (matches!(kind, Kind::TextList), "text-list"),
                _ => (matches!(kind, Kind::GroupCollection), "group-collection"),
            };
            if !fits {
                return Err(CatalogProblem::MergeNotAllowed {
                    merge: rule.name(),
                    kind: kind.name(),
                    applies_to,
                });
            }
        }
        match &rule {
            Some(rule @ MergeRule::Keyed { .. }) if key.is_none() => {
                Err(CatalogProblem::MissingMergeKey(rule.name()))
            }
            Some(MergeRule::Keyed { .. }) => Ok(rule),
            _ if key.is_some() => Err(CatalogProblem::NotKeyed("merge-key")),
            _ if label.is_some() => Err(CatalogProblem::NotKeyed("merge-label")),
            _ => Ok(rule),
        }
    }

    fn expand_entry(block: &Block, entry: &Entry) -> Result<Definition, CatalogProblem> {
        let kind = entry.kind;
        let not_allowed = |field| CatalogProblem::FieldNotAllowed {
            field,
            kind: kind.name(),
        };
        let id = format!("{}{}", block.id_prefix, entry.id);

        let options = match (&entry.options, kind) {
            (Some(options), Kind::Choice | Kind::ChoiceList) if !options.is_empty() => options
                .iter()
                .map(|(suffix, value)| {
                    let value = match value {
                        RawOption::Integer(number) => OptionValue::Integer(*number),
                        RawOption::Text(text) => OptionValue::Text(text.clone()),
                    };
                    (format!("{id}_{suffix}"), value)
                })
                .collect(),
            (_, Kind::Choice | Kind::ChoiceList) => {
                return Err(CatalogProblem::NoOptions { kind: kind.name() });
            }
            (Some(_), _) => return Err(not_allowed("options")),
            (None, _) => BTreeMap::new(),
        };
        let range = match (entry.range, kind) {
            (Some((min, max)), Kind::Integer) if min > max => {
                return Err(CatalogProblem::EmptyRange { min, max });
            }
            (Some(range), Kind::Integer) => Some(range),
            (Some(_), _) => return Err(not_allowed("range")),
            (None, _) => None,
        };
        let max_length = match (entry.max_length, kind) {
            (Some(length), Kind::Text | Kind::TextList) => Some(length),
            (Some(_), _) => return Err(not_allowed("max-length")),
            (None, _) => None,
        };
        let secret = match (entry.secret, kind) {
            (Some(flag), Kind::Text) => flag,
            (Some(_), _) => return Err(not_allowed("secret")),
            (None, _) => false,
        };
        let csp_uri = entry.csp.as_deref().map(|csp| {
            if csp.starts_with("./") {
                csp.to_owned()
            } else {
                format!("{}{csp}", block.csp_prefix)
            }
        });
        let technologies =
            split_flags(entry.technologies.as_deref().unwrap_or(&block.technologies));

        Ok(Definition {
            id,
            kind: kind.definition_kind(),
            csp_uri,
            technologies,
            options,
            range,
            max_length,
            secret,
        })
    }

    fn expand_asr(asr: &Asr, origin: &str) -> Result<Vec<Definition>, CatalogError> {
        let mut definitions = vec![Definition {
            id: asr.group.clone(),
            kind: DefinitionKind::GroupCollection,
            csp_uri: Some(asr.csp.clone()),
            technologies: split_flags(&asr.technologies),
            options: BTreeMap::new(),
            range: None,
            max_length: None,
            secret: false,
        }];
        for (index, rule) in asr.rules.iter().enumerate() {
            if !is_guid(&rule.guid) {
                return Err(CatalogError::Invalid {
                    origin: origin.to_owned(),
                    path: format!("asr.rules[{index}] ('{}')", rule.rule),
                    problem: CatalogProblem::NotAGuid(rule.guid.clone()),
                });
            }
            let id = format!("{}_{}", asr.group, rule.rule);
            let options = ASR_ACTIONS
                .iter()
                .map(|(suffix, code)| {
                    (
                        format!("{id}_{suffix}"),
                        OptionValue::Text(format!("{}={code}", rule.guid)),
                    )
                })
                .collect();
            let technologies = rule.technologies.as_deref().unwrap_or(&asr.technologies);
            definitions.push(Definition {
                id: id.clone(),
                kind: DefinitionKind::Choice,
                csp_uri: Some(asr.csp.clone()),
                technologies: split_flags(technologies),
                options,
                range: None,
                max_length: None,
                secret: false,
            });
            if rule.per_rule_exclusions {
                definitions.push(Definition {
                    id: format!("{id}_perruleexclusions"),
                    kind: DefinitionKind::SimpleCollection,
                    csp_uri: Some(asr.exclusions_csp.clone()),
                    technologies: split_flags(&asr.exclusions_technologies),
                    options: BTreeMap::new(),
                    range: None,
                    max_length: asr.exclusions_max_length,
                    secret: false,
                });
            }
        }
        Ok(definitions)
    }

    /// Whether `text` is a GUID in 8-4-4-4-12 hexadecimal form (either letter case).
    fn is_guid(text: &str) -> bool {
        let groups: Vec<&str> = text.split('-').collect();
        groups.len() == 5
            && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, len)| {
                group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFENDER: &str = "device_vendor_msft_policy_config_defender_";

    #[test]
    fn every_embedded_source_parses_and_the_embedded_catalog_is_their_union() {
        let embedded = Catalog::embedded();
        let mut total = 0;
        for (origin, text) in EMBEDDED_SOURCES {
            let part =
                Catalog::from_compact_toml(text, origin).unwrap_or_else(|error| panic!("{error}"));
            for definition in part.iter() {
                assert_eq!(embedded.get(&definition.id), Some(definition), "{origin}");
            }
            total += part.len();
        }
        // Equal sizes mean no id was defined twice (a duplicate would also fail to load).
        assert_eq!(embedded.len(), total);
    }

    #[test]
    fn a_definition_in_two_embedded_files_is_refused() {
        let mut catalog = Catalog::new();
        let windows = Catalog::from_compact_toml(EMBEDDED_SOURCES[0].1, EMBEDDED_SOURCES[0].0)
            .expect("valid file");
        let first = windows.iter().next().expect("not empty").clone();
        catalog
            .insert_new("catalog/windows-defender.toml", first.clone())
            .expect("new");
        let error = catalog
            .insert_new("catalog/linux.toml", first.clone())
            .expect_err("duplicate");
        assert_eq!(
            error.to_string(),
            format!(
                "catalog 'catalog/linux.toml': duplicate definition id '{}'",
                first.id
            )
        );
    }

    #[test]
    fn the_embedded_catalog_parses_and_covers_the_core_settings() {
        let catalog = Catalog::embedded();
        for suffix in [
            "allowrealtimemonitoring",
            "allowbehaviormonitoring",
            "allowioavprotection",
            "allowscriptscanning",
            "allowcloudprotection",
            "submitsamplesconsent",
            "cloudblocklevel",
            "cloudextendedtimeout",
            "puaprotection",
            "enablenetworkprotection",
            "excludedpaths",
            "excludedextensions",
            "excludedprocesses",
            "attacksurfacereductiononlyexclusions",
        ] {
            assert!(
                catalog.get(&format!("{DEFENDER}{suffix}")).is_some(),
                "embedded catalog lacks {suffix}"
            );
        }
        let timeout = catalog
            .get(&format!("{DEFENDER}cloudextendedtimeout"))
            .expect("present");
        assert_eq!(timeout.range, Some((0, 50)));
        assert_eq!(timeout.kind, DefinitionKind::Simple);
        let paths = catalog
            .get(&format!("{DEFENDER}excludedpaths"))
            .expect("present");
        assert_eq!(paths.kind, DefinitionKind::SimpleCollection);
        assert_eq!(
            paths.csp_uri.as_deref(),
            Some("./Device/Vendor/MSFT/Policy/Config/Defender/ExcludedPaths")
        );
    }

    #[test]
    fn the_embedded_asr_group_has_19_rules_with_guid_action_values() {
        let catalog = Catalog::embedded();
        let group = format!("{DEFENDER}attacksurfacereductionrules");
        assert_eq!(
            catalog.get(&group).map(|d| d.kind),
            Some(DefinitionKind::GroupCollection)
        );
        let rules: Vec<&Definition> = catalog
            .iter()
            .filter(|d| d.id.starts_with(&format!("{group}_")) && d.kind == DefinitionKind::Choice)
            .collect();
        assert_eq!(rules.len(), 19);
        let ransomware = catalog
            .get(&format!("{group}_useadvancedprotectionagainstransomware"))
            .expect("present");
        assert_eq!(
            ransomware.options.get(&format!(
                "{group}_useadvancedprotectionagainstransomware_warn"
            )),
            Some(&OptionValue::Text(
                "c1db55ab-c21a-4637-bb3f-a12568109d35=6".into()
            ))
        );
        let exclusions = catalog
            .iter()
            .filter(|d| d.id.ends_with("_perruleexclusions"))
            .count();
        assert_eq!(
            exclusions, 18,
            "every rule but WMI persistence has per-rule exclusions"
        );
    }

    #[test]
    fn the_embedded_firewall_rules_group_has_its_rule_settings() {
        let catalog = Catalog::embedded();
        let group = "vendor_msft_firewall_mdmstore_firewallrules_{firewallrulename}";
        let definition = |field: &str| {
            catalog
                .get(&format!("{group}_{field}"))
                .unwrap_or_else(|| panic!("{field} missing"))
        };
        let rules = catalog.get(group).expect("the group");
        assert_eq!(rules.kind, DefinitionKind::GroupCollection);
        assert_eq!(
            rules.csp_uri.as_deref(),
            Some("./Vendor/MSFT/Firewall/MdmStore/FirewallRules/{FirewallRuleName}")
        );
        assert_eq!(rules.technologies, ["mdm", "microsoftSense"]);
        let direction = definition("direction");
        assert_eq!(
            direction.options.get(&format!("{group}_direction_in")),
            Some(&OptionValue::Text("IN".into()))
        );
        assert_eq!(
            definition("action_type").csp_uri.as_deref(),
            Some("./Vendor/MSFT/Firewall/MdmStore/FirewallRules/{FirewallRuleName}/Action/Type")
        );
        assert_eq!(definition("protocol").range, Some((0, 255)));
        assert_eq!(
            definition("profiles").kind,
            DefinitionKind::ChoiceCollection
        );
        assert_eq!(
            definition("profiles")
                .options
                .get(&format!("{group}_profiles_2147483647")),
            Some(&OptionValue::Integer(2_147_483_647))
        );
        assert_eq!(
            definition("interfacetypes")
                .options
                .get(&format!("{group}_interfacetypes_remoteaccess")),
            Some(&OptionValue::Text("RemoteAccess".into()))
        );
        for field in [
            "localportranges",
            "remoteportranges",
            "localaddressranges",
            "remoteaddressranges",
        ] {
            assert_eq!(definition(field).kind, DefinitionKind::SimpleCollection);
        }
        for field in [
            "name",
            "description",
            "app_filepath",
            "app_packagefamilyname",
            "app_servicename",
        ] {
            assert_eq!(definition(field).kind, DefinitionKind::Simple);
        }
        let children = catalog
            .iter()
            .filter(|d| d.id.starts_with(&format!("{group}_")))
            .count();
        assert_eq!(children, 16);
    }

    #[test]
    fn compact_format_rejects_fields_that_do_not_fit_the_kind() {
        let text = r#"
            [[block]]
            id-prefix = "x_"
            settings = [ { id = "a", kind = "integer", options = { 0 = 0 } } ]
        "#;
        let error = Catalog::from_compact_toml(text, "t.toml").expect_err("options on an integer");
        assert_eq!(
            error.to_string(),
            "catalog 't.toml': block[0].settings[0] ('a'): 'options' does not apply to integer definitions"
        );
        let text = r#"
            [[block]]
            settings = [ { id = "a", kind = "choice", colour = "red" } ]
        "#;
        let error = Catalog::from_compact_toml(text, "t.toml").expect_err("unknown key");
        let message = error.to_string();
        assert!(
            message.starts_with("catalog 't.toml': not valid TOML at line 3 column "),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn compact_format_rejects_duplicates() {
        let text = r#"
            [[block]]
            settings = [ { id = "a", kind = "text" }, { id = "a", kind = "text" } ]
        "#;
        let error = Catalog::from_compact_toml(text, "t.toml").expect_err("duplicate");
        assert_eq!(
            error.to_string(),
            "catalog 't.toml': duplicate definition id 'a'"
        );
    }

    #[test]
    fn the_embedded_catalog_declares_the_merge_rules_the_resolve_stage_documents() {
        let catalog = Catalog::embedded();
        let declared: Vec<(&str, &MergeRule)> = catalog
            .merge_rules
            .iter()
            .map(|(id, rule)| (id.as_str(), rule))
            .collect();
        let firewall = "vendor_msft_firewall_mdmstore_firewallrules_{firewallrulename}";
        let keyed = MergeRule::Keyed {
            key: format!("{firewall}_name"),
            ignore_case: true,
            label: "firewall rule".into(),
        };
        let union = MergeRule::Union { ignore_case: true };
        let expected = [
            (
                "com.apple.managedclient.preferences_exclusions",
                &MergeRule::Items { ignore_case: true },
            ),
            (
                "device_vendor_msft_policy_config_defender_attacksurfacereductionrules",
                &MergeRule::AsrRules,
            ),
            (
                "device_vendor_msft_policy_config_defender_excludedextensions",
                &union,
            ),
            (
                "device_vendor_msft_policy_config_defender_excludedpaths",
                &union,
            ),
            (
                "device_vendor_msft_policy_config_defender_excludedprocesses",
                &union,
            ),
            (
                "linux_mdatp_managed_antivirusengine_exclusions",
                &MergeRule::Items { ignore_case: false },
            ),
            (
                "linux_mdatp_managed_exclusionsettings_exclusions",
                &MergeRule::Items { ignore_case: false },
            ),
            (firewall, &keyed),
        ];
        assert_eq!(declared, expected);
    }

    #[test]
    fn merge_rules_of_the_embedded_catalog_apply_to_catalogs_that_declare_none() {
        let paths = format!("{DEFENDER}excludedpaths");
        let union = MergeRule::Union { ignore_case: true };
        assert_eq!(Catalog::new().merge_rule(&paths), Some(&union));
        assert_eq!(
            Catalog::new().merge_rule(&format!("{DEFENDER}puaprotection")),
            None
        );

        // A newer catalog's definition replaces the embedded one but keeps its merge rule,
        // unless the newer catalog declares another.
        let mut catalog = Catalog::embedded();
        let mut newer = Catalog::new();
        newer.insert(catalog.get(&paths).expect("present").clone());
        catalog.extend(newer);
        assert_eq!(catalog.merge_rule(&paths), Some(&union));
        let text = format!(
            r#"
            [[block]]
            id-prefix = "{DEFENDER}"
            settings = [ {{ id = "excludedpaths", kind = "text-list", merge = "union" }} ]
        "#
        );
        catalog.extend(Catalog::from_compact_toml(&text, "t.toml").expect("valid"));
        assert_eq!(
            catalog.merge_rule(&paths),
            Some(&MergeRule::Union { ignore_case: false })
        );
    }

    #[test]
    fn compact_format_rejects_an_unknown_merge_rule() {
        let text = r#"
            [[block]]
            settings = [ { id = "a", kind = "text-list", merge = "add-up" } ]
        "#;
        let error = Catalog::from_compact_toml(text, "t.toml").expect_err("unknown merge");
        assert_eq!(
            error.to_string(),
            "catalog 't.toml': not valid TOML at line 3 column 66: unknown variant `add-up`, \
             expected one of `union`, `union-ignore-case`, `items`, `items-ignore-case`, \
             `keyed`, `keyed-ignore-case`, `asr-rules`"
        );
    }

    #[test]
    fn compact_format_rejects_a_keyed_merge_whose_key_is_not_a_child() {
        let text = r#"
            [[block]]
            id-prefix = "x_"
            settings = [
              { id = "rules", kind = "group-collection", merge = "keyed", merge-key = "name" },
              { id = "rules_title", kind = "text" },
            ]
        "#;
        let error = Catalog::from_compact_toml(text, "t.toml").expect_err("no rules_name");
        assert_eq!(
            error.to_string(),
            "catalog 't.toml': block[0].settings[0] ('rules'): merge-key 'name': no definition 'x_rules_name' in this catalog"
        );

        let text = r#"
            [[block]]
            id-prefix = "x_"
            settings = [
              { id = "rules", kind = "group-collection", merge = "keyed-ignore-case", merge-key = "ports" },
              { id = "rules_ports", kind = "text-list" },
            ]
        "#;
        let error = Catalog::from_compact_toml(text, "t.toml").expect_err("a list key");
        assert_eq!(
            error.to_string(),
            "catalog 't.toml': block[0].settings[0] ('rules'): merge-key 'ports': 'x_rules_ports' is a simple collection definition; a key must hold one value (text, integer or choice)"
        );

        let text = r#"
            [[block]]
            settings = [ { id = "rules", kind = "group-collection", merge = "keyed" } ]
        "#;
        let error = Catalog::from_compact_toml(text, "t.toml").expect_err("no merge-key");
        assert_eq!(
            error.to_string(),
            "catalog 't.toml': block[0].settings[0] ('rules'): merge 'keyed' needs 'merge-key', the child setting that identifies an item"
        );
    }

    #[test]
    fn compact_format_rejects_merge_rules_that_do_not_fit_the_kind() {
        let cases = [
            (
                r#"{ id = "a", kind = "text-list", merge = "items" }"#,
                "block[0].settings[0] ('a'): merge 'items' does not apply to text-list definitions, only to group-collection",
            ),
            (
                r#"{ id = "a", kind = "group-collection", merge = "union-ignore-case" }"#,
                "block[0].settings[0] ('a'): merge 'union-ignore-case' does not apply to group-collection definitions, only to text-list",
            ),
            (
                r#"{ id = "a", kind = "choice", options = { 0 = 0 }, merge = "asr-rules" }"#,
                "block[0].settings[0] ('a'): merge 'asr-rules' does not apply to choice definitions, only to group-collection",
            ),
            (
                r#"{ id = "a", kind = "group-collection", merge = "items", merge-key = "b" }"#,
                "block[0].settings[0] ('a'): 'merge-key' applies only to merge = \"keyed\" or \"keyed-ignore-case\"",
            ),
            (
                r#"{ id = "a", kind = "group-collection", merge-label = "thing" }"#,
                "block[0].settings[0] ('a'): 'merge-label' applies only to merge = \"keyed\" or \"keyed-ignore-case\"",
            ),
        ];
        for (entry, problem) in cases {
            let text = format!("[[block]]\nsettings = [ {entry} ]\n");
            let error = Catalog::from_compact_toml(&text, "t.toml").expect_err(entry);
            assert_eq!(error.to_string(), format!("catalog 't.toml': {problem}"));
        }

        let text = r#"
            [asr]
            group = "g"
            csp = "./G"
            technologies = "mdm"
            exclusions-csp = "./E"
            exclusions-technologies = "mdm"
            merge = "union"
            rules = []
        "#;
        let error = Catalog::from_compact_toml(text, "t.toml").expect_err("union on the group");
        assert_eq!(
            error.to_string(),
            "catalog 't.toml': asr: merge 'union' does not apply to group-collection definitions, only to text-list"
        );
    }

    #[test]
    fn graph_json_accepts_wrapped_option_values_and_base_plus_offset_uris() {
        let json = br##"{"value": [{
            "id": "x", "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingDefinition",
            "baseUri": "./Vendor/MSFT/X", "offsetUri": "/Y",
            "applicability": {"technologies": "mdm,microsoftSense"},
            "options": [{"itemId": "x_1", "optionValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationIntegerSettingValue", "value": 1}}]
        }]}"##;
        let catalog = Catalog::from_graph_definitions_json(json).expect("valid");
        let definition = catalog.get("x").expect("present");
        assert_eq!(definition.csp_uri.as_deref(), Some("./Vendor/MSFT/X/Y"));
        assert_eq!(definition.technologies, ["mdm", "microsoftSense"]);
        assert_eq!(
            definition.options.get("x_1"),
            Some(&OptionValue::Integer(1))
        );
    }

    #[test]
    fn graph_json_errors_name_the_definition_path() {
        let json = br#"{"definitions": [{"id": "x", "@odata.type": "t", "options": [{"itemId": "x_1", "optionValue": null}]}]}"#;
        let error = Catalog::from_graph_definitions_json(json).expect_err("null option value");
        assert_eq!(
            error.to_string(),
            "catalog 'graph definitions': definitions[0].options[0]: 'optionValue': expected an integer or a string, found null"
        );
    }

    #[test]
    fn extend_lets_the_newer_catalog_win() {
        let mut base = Catalog::embedded();
        let before = base.len();
        let id = format!("{DEFENDER}cloudextendedtimeout");
        let mut newer = Catalog::new();
        let mut changed = base.get(&id).expect("present").clone();
        changed.range = Some((0, 60));
        newer.insert(changed);
        base.extend(newer);
        assert_eq!(base.len(), before);
        assert_eq!(base.get(&id).and_then(|d| d.range), Some((0, 60)));
    }
}
