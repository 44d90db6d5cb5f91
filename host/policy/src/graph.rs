//! The Microsoft Graph `deviceManagement/configurationPolicies` model, and a parser for the JSON
//! that Intune and common export tools write.
//!
//! A [`PolicyDocument`] is one endpoint-security policy: its identity, where it applies
//! (`platforms`, `technologies`, template) and its tree of [`SettingInstance`]s. Choice values
//! are kept as the option *itemIds* the policy holds; what an itemId means is the settings
//! catalog's business ([`crate::catalog`]), and [`crate::settings::flatten`] combines the two.
//!
//! # Reading a file
//!
//! [`parse_policies`] (and [`load_policies`] for a path) reads every policy a file holds into a
//! [`PolicyFile`]: its documents, its [`Layout`] and the [`Note`]s a caller should show. The
//! agent reads every input this way. [`parse_policy`] (and [`load_policy_file`]) is for callers
//! that expect exactly one policy: it refuses a file holding none or several with
//! [`ParseProblem::NotOnePolicy`].
//!
//! ## Layouts
//!
//! - **One policy object**, as Graph's
//!   `GET configurationPolicies/{id}?$expand=settings,assignments` returns it. IntuneManagement
//!   (Micke-K), IntuneBackupAndRestore (`Settings Catalog/<name>.json`) and OpenIntuneBaseline
//!   (IntuneManagement exports) write one policy per file this way.
//! - **A Graph list response**: an object whose `value` member is an array of policies, as
//!   `GET configurationPolicies?$expand=settings` returns it (saved from Graph Explorer or
//!   `Invoke-RestMethod`), annotations such as `@odata.context` and `@odata.count` included.
//!   Windows PowerShell 5.1 can render an array as `{"value": [...], "Count": n}` (the extended
//!   type data it has for arrays), which reads the same way. Graph lists a policy's settings only
//!   with `$expand=settings`; a list without them is refused at its first element
//!   ([`ParseProblem::SettingsNotExpanded`]).
//!   A list with `@odata.nextLink` is one page of a longer answer: the policies on the page are
//!   read, and [`Note::MorePages`] says that the other pages are not in this file.
//! - **A JSON array of policies**: what PowerShell's `ConvertTo-Json` writes for several objects
//!   (`$policies | ConvertTo-Json -Depth 100`), and CIPP's `ListIntuneTemplates` answer (an array
//!   of CIPP templates, below).
//!
//! An empty list or array is a file that holds no policy (a tenant without policies answers
//! `{"value": []}`): it reads as no documents, with [`Note::Empty`] so that a caller can say so
//! rather than silently treat the file as withdrawing everything it held.
//!
//! Each policy, whether the whole file or an element of a list, is one of:
//!
//! - a policy object;
//! - a CIPP templates-table entity (`PartitionKey`, `RowKey`, `GUID`, `JSON`): `JSON` is a string
//!   holding a CIPP template;
//! - a CIPP template (`Displayname`, `Description`, `RAWJson`, `Type`, `GUID`), as CIPP-API keeps
//!   them in `Config/*.IntuneTemplate.json` and in the `JSON` above: `RAWJson` is a string holding
//!   the policy;
//! - a CIPP backup item (`TemplateJson`, `DisplayName`, `Description`, `Type`), one per Intune
//!   configuration in the `intuneconfig` part of a CIPP tenant backup: `TemplateJson` is a string
//!   holding the policy.
//!
//! CIPP strips the policy id: the wrapper's `GUID` (else `RowKey`) stands in when the policy has
//! none. A CIPP wrapper whose `Type` is not `Catalog` holds something else (a device configuration,
//! a compliance policy, an administrative template, ...) and is refused with
//! [`ParseProblem::NotAPolicy`]. Error paths run through the strings that hold JSON, e.g.
//! `JSON.RAWJson.settings[0].settingInstance`.
//!
//! ## Encodings and dates
//!
//! Every layout is read in UTF-8, with or without a byte order mark, and in UTF-16 (little- or
//! big-endian, with a byte order mark or recognised by its NUL bytes): what Windows PowerShell 5.1
//! writes with `ConvertTo-Json ... > file.json` or `Out-File` (IntuneManagement's and
//! IntuneBackupAndRestore's exports under Windows PowerShell). PowerShell 5.1's dates,
//! `lastModifiedDateTime` as `"\/Date(1705285879967)\/"` or as the object
//! `{"value": "\/Date(...)\/", "DateTime": "..."}`, are read as RFC 3339. Annotation keys
//! (`@odata.context`, `platforms@odata.type`, ...) are ignored; the only annotation read is
//! `@odata.type` on setting instances and simple values, because it selects their kind.
//!
//! ## What is refused
//!
//! Something else rampart can recognise (Defender's `mdatp_managed.json`, a device configuration
//! profile, an endpoint-security intent, IntuneManagement's `MigrationTable.json`, a CIPP template
//! of another type) is refused with [`ParseProblem::NotAPolicy`], saying what it looks like. A file
//! is read whole or not at all: the first element that is not a policy, or not a valid one, fails
//! the file, so a caller never enforces part of a file as if it were all of it.
//!
//! Every error is a [`PolicyError`] whose message is one line naming the document and the JSON
//! path. The document of a list element is named by the file and the element's place:
//! `all.json#value[2]` in a Graph list, `all.json#[2]` in an array (0-based). The same name is
//! the element's [`PolicyDocument::origin`]. For example:
//!
//! ```text
//! policy 'all.json#value[2]': settings[2].settingInstance: unknown @odata.type '#microsoft.graph.foo'
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::json_path::JsonPath;
use crate::text_position::json_error_parts;

/// One configuration policy as Graph describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// The policy GUID; empty when neither the policy nor its wrapper carries one.
    pub id: String,
    /// The display name.
    pub name: String,
    /// The description; empty when absent.
    pub description: String,
    /// Graph's `platforms` value, for example `windows10`, `macOS` or `linux`.
    pub platforms: String,
    /// Graph's `technologies` flags, split on `,` and trimmed, e.g. `["mdm", "microsoftSense"]`.
    pub technologies: Vec<String>,
    /// The endpoint-security template the policy was made from; `None` for plain
    /// settings-catalog policies (Graph then reports an empty `templateId`).
    pub template: Option<TemplateReference>,
    /// The top-level setting instances, in document order.
    pub settings: Vec<SettingInstance>,
    /// The assignments, when the document carries them (`$expand=assignments`); `None` when
    /// the document has no `assignments` member.
    pub assignments: Option<Vec<Assignment>>,
    /// Graph's `lastModifiedDateTime` as written, except that a PowerShell 5.1 date
    /// (`/Date(ms)/`) is given as RFC 3339.
    pub last_modified: Option<String>,
    /// Where the document came from: a file path or a caller's label, followed for an element of
    /// a list by its place (`all.json#value[2]`, `all.json#[2]`). Used in messages.
    pub origin: String,
}

/// The template a policy was created from (`templateReference`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateReference {
    /// The template id including its version suffix, e.g. `804339ad-…_1`.
    pub template_id: String,
    /// The template family, e.g. `endpointSecurityAntivirus`.
    pub template_family: Option<String>,
    /// The template's display name, e.g. `Microsoft Defender Antivirus`.
    pub display_name: Option<String>,
}

/// Who a policy is assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The assignment target. Assignment filters are parsed and dropped: they do not apply to
    /// devices managed by Defender for Endpoint.
    pub target: AssignmentTarget,
}

/// The target of an [`Assignment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentTarget {
    /// An Entra group to include (`groupAssignmentTarget`), by group id.
    Group(String),
    /// An Entra group to exclude (`exclusionGroupAssignmentTarget`), by group id.
    ExclusionGroup(String),
    /// All devices (`allDevicesAssignmentTarget`).
    AllDevices,
    /// All licensed users (`allLicensedUsersAssignmentTarget`); user targeting does not reach
    /// MDE-managed devices, but the target is kept so reports can say so.
    AllLicensedUsers,
    /// Any other target type, by its `@odata.type`.
    Other(String),
}

/// One node of a policy's setting tree (Graph `deviceManagementConfigurationSettingInstance`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingInstance {
    /// A choice: one option of an enumeration, with the settings that depend on that option.
    Choice {
        /// The setting definition id.
        definition_id: String,
        /// The chosen option's itemId (not its value).
        value: String,
        /// Dependent settings.
        children: Vec<SettingInstance>,
    },
    /// A single integer, string or secret.
    Simple {
        /// The setting definition id.
        definition_id: String,
        /// The value.
        value: SimpleValue,
    },
    /// A list of simple values, such as exclusion paths.
    SimpleCollection {
        /// The setting definition id.
        definition_id: String,
        /// The values, in document order.
        values: Vec<SimpleValue>,
    },
    /// Several options of an enumeration (multi-select).
    ChoiceCollection {
        /// The setting definition id.
        definition_id: String,
        /// The chosen options, in document order.
        values: Vec<ChoiceItem>,
    },
    /// A repeating group, such as the ASR rules group: each item is a list of child settings.
    GroupCollection {
        /// The group's definition id.
        definition_id: String,
        /// The items, each holding its child settings.
        items: Vec<Vec<SettingInstance>>,
    },
    /// A single group of child settings.
    Group {
        /// The group's definition id.
        definition_id: String,
        /// The child settings.
        children: Vec<SettingInstance>,
    },
}

impl SettingInstance {
    /// The setting definition id of this node.
    pub fn definition_id(&self) -> &str {
        match self {
            SettingInstance::Choice { definition_id, .. }
            | SettingInstance::Simple { definition_id, .. }
            | SettingInstance::SimpleCollection { definition_id, .. }
            | SettingInstance::ChoiceCollection { definition_id, .. }
            | SettingInstance::GroupCollection { definition_id, .. }
            | SettingInstance::Group { definition_id, .. } => definition_id,
        }
    }
}

/// One chosen option of a [`SettingInstance::ChoiceCollection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceItem {
    /// The option's itemId.
    pub value: String,
    /// Settings that depend on this option.
    pub children: Vec<SettingInstance>,
}

/// The value of a simple setting, as selected by its `@odata.type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimpleValue {
    /// `IntegerSettingValue`.
    Integer(i64),
    /// `StringSettingValue` (and its `ReferenceSettingValue` subtype).
    String(String),
    /// `SecretSettingValue`: an onboarding blob or the opaque token Graph returns in its place.
    Secret(Secret),
}

/// A secret string, such as the EDR onboarding blob.
///
/// Its `Debug` and `Display` print `<redacted>`, so a secret cannot leak through logs, error
/// messages or `{:?}` of the structures holding it; [`Secret::expose`] is the only way to the
/// text, which makes every use easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text. Call it only where the value is handed to its consumer.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a policy document could not be read.
///
/// Every message is one line that names the file (or the caller's label) and the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read.
    #[error("policy '{}': cannot read file: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not JSON.
    #[error("policy '{origin}': not valid JSON at line {line} column {column}: {message}")]
    Syntax {
        /// The file or label.
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// The JSON is not a policy document.
    #[error("policy '{origin}': {}{problem}", path_prefix(.path))]
    Invalid {
        /// The file or label.
        origin: String,
        /// The JSON path of the offending value, e.g.
        /// `settings[3].settingInstance.choiceSettingValue`; empty for the top-level object.
        path: String,
        /// What is wrong there.
        problem: ParseProblem,
    },
}

/// Renders `path: `, or nothing for the top-level object.
fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// What is wrong at one place in a policy document (see [`PolicyError::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseProblem {
    /// A required member is absent or `null`.
    #[error("missing field '{0}'")]
    MissingField(&'static str),
    /// A required string member is empty.
    #[error("field '{0}' is empty")]
    EmptyField(&'static str),
    /// A value has the wrong JSON type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What was expected, e.g. "a string".
        expected: &'static str,
        /// What was found, e.g. "a number".
        found: &'static str,
    },
    /// An `@odata.type` this parser does not know.
    #[error("unknown @odata.type '{0}'")]
    UnknownOdataType(String),
    /// A number that is not a 64-bit integer.
    #[error("'{0}' is not a 64-bit integer")]
    NotAnInteger(String),
    /// The file is not an Intune settings-catalog policy; it looks like the thing named.
    #[error(
        "not an Intune endpoint-security or settings-catalog policy: this looks like {0}; rampart reads Graph's deviceManagement/configurationPolicies objects, one per file or a list of them"
    )]
    NotAPolicy(String),
    /// A policy from a Graph list without its settings: Graph lists them only with
    /// `$expand=settings`.
    #[error(
        "missing field 'settings': Graph lists a policy's settings only when asked with $expand=settings (this one has only settingCount)"
    )]
    SettingsNotExpanded,
    /// [`parse_policy`] was given a file holding no policy or several.
    #[error(
        "holds {} ({}) where exactly one is expected",
        policies(*.count),
        describe_layout(*.layout, *.more_pages)
    )]
    NotOnePolicy {
        /// How many policies the file holds.
        count: usize,
        /// How it holds them.
        layout: Layout,
        /// Whether the file is a page of a Graph list with more pages behind `@odata.nextLink`.
        more_pages: bool,
    },
    /// A string member that should hold JSON (a CIPP wrapper) does not.
    #[error("embedded JSON is not valid at line {line} column {column}: {message}")]
    EmbeddedJson {
        /// 1-based line within the embedded string.
        line: usize,
        /// 1-based column within the embedded string.
        column: usize,
        /// serde_json's description.
        message: String,
    },
}

/// The policies of one file (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyFile {
    /// How the file holds its policies.
    pub layout: Layout,
    /// The policies, in file order; empty for an empty list or array.
    pub documents: Vec<PolicyDocument>,
    /// What a caller should show besides the documents: more pages of a Graph list elsewhere,
    /// a file that holds no policy. Never an error: the documents are complete for this file.
    pub notes: Vec<Note>,
}

/// How a file holds its policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// One policy, bare or in a CIPP wrapper.
    Single,
    /// A Graph list response: an object whose `value` member is an array of policies.
    GraphList,
    /// A JSON array of policies.
    Array,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Single => "one policy object",
            Layout::GraphList => "a Graph list response",
            Layout::Array => "a JSON array",
        })
    }
}

/// "1 policy", "2 policies".
fn policies(count: usize) -> String {
    if count == 1 {
        "1 policy".to_owned()
    } else {
        format!("{count} policies")
    }
}

/// Renders a layout for [`ParseProblem::NotOnePolicy`].
fn describe_layout(layout: Layout, more_pages: bool) -> String {
    if more_pages {
        format!("{layout}, with more pages behind @odata.nextLink")
    } else {
        layout.to_string()
    }
}

/// Something a caller should show about a file that was read: not an error, but a reason to
/// look at the file. Its `Display` is one line naming the file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Note {
    /// The file is one page of a paged Graph list: `@odata.nextLink` names the next page, which is
    /// not in this file. The policies on this page are read; those on other pages are not, unless
    /// they are in other files.
    MorePages {
        /// The file or label.
        origin: String,
        /// The policies on this page.
        count: usize,
        /// The `@odata.nextLink` URL.
        next_link: String,
    },
    /// The file holds no policy: an empty Graph list or JSON array. It is a readable file that
    /// assigns nothing, so a caller that enforces it withdraws what it held before.
    Empty {
        /// The file or label.
        origin: String,
        /// The list's layout.
        layout: Layout,
    },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The link itself is left out: it is long and holds a paging token, not a name.
            Note::MorePages { origin, count, .. } => write!(
                f,
                "policy '{origin}': one page of a Graph list ({}); its @odata.nextLink names more pages, which are not in this file and are not read",
                policies(*count)
            ),
            Note::Empty { origin, layout } => {
                write!(
                    f,
                    "policy '{origin}': holds no policy ({layout} with no items)"
                )
            }
        }
    }
}

/// Reads one policy file and parses every policy in it; see [`parse_policies`]. The path
/// becomes the origin.
///
/// # Errors
///
/// [`PolicyError::Io`] when the file cannot be read, otherwise as [`parse_policies`].
pub fn load_policies(path: &Path) -> Result<PolicyFile, PolicyError> {
    let bytes = read_file(path)?;
    parse_policies(&bytes, &path.display().to_string())
}

/// Parses every policy of a file: one policy, a Graph list response or a JSON array, each policy
/// bare or in a CIPP wrapper (see the [module documentation](self) for the accepted forms).
///
/// `origin` names the file in errors and notes; each document's [`PolicyDocument::origin`] is
/// `origin` for a single policy and `origin#value[i]` or `origin#[i]` for an element of a list.
///
/// # Errors
///
/// [`PolicyError::Syntax`] when the bytes are not JSON. [`PolicyError::Invalid`], naming the
/// element, when any element is not a valid policy: the file is read whole or not at all.
pub fn parse_policies(bytes: &[u8], origin: &str) -> Result<PolicyFile, PolicyError> {
    let value = read_json(bytes, origin)?;
    let listing = Listing::of(&value, origin);
    let documents = listing
        .elements
        .iter()
        .map(|(origin, element)| parse_element(element, origin))
        .collect::<Result<Vec<_>, _>>()?;
    let mut notes = Vec::new();
    if let Some(next_link) = listing.next_link {
        notes.push(Note::MorePages {
            origin: origin.to_owned(),
            count: documents.len(),
            next_link: next_link.to_owned(),
        });
    }
    if documents.is_empty() {
        notes.push(Note::Empty {
            origin: origin.to_owned(),
            layout: listing.layout,
        });
    }
    Ok(PolicyFile {
        layout: listing.layout,
        documents,
        notes,
    })
}

/// Reads and parses a file that holds exactly one policy; see [`parse_policy`]. The path
/// becomes the origin.
///
/// # Errors
///
/// [`PolicyError::Io`] when the file cannot be read, otherwise as [`parse_policy`].
pub fn load_policy_file(path: &Path) -> Result<PolicyDocument, PolicyError> {
    let bytes = read_file(path)?;
    parse_policy(&bytes, &path.display().to_string())
}

/// Parses a file that holds exactly one policy: one policy object (bare or in a CIPP wrapper),
/// or a list or array of one element (see the [module documentation](self) for the accepted
/// forms). Use [`parse_policies`] for files that may hold several.
///
/// `origin` names the document in errors and is stored in [`PolicyDocument::origin`].
///
/// # Errors
///
/// [`PolicyError::Syntax`] when the bytes are not JSON, [`PolicyError::Invalid`] when the JSON is
/// not a policy: a required member is missing (`name`, `platforms`, `technologies`, `settings`,
/// and in each setting instance `@odata.type`, `settingDefinitionId` and its value), a value has
/// the wrong type, an `@odata.type` is unknown, or the file holds no policy or several
/// ([`ParseProblem::NotOnePolicy`], also for a one-element page of a longer Graph list).
pub fn parse_policy(bytes: &[u8], origin: &str) -> Result<PolicyDocument, PolicyError> {
    let value = read_json(bytes, origin)?;
    let listing = Listing::of(&value, origin);
    match listing.elements.as_slice() {
        [(origin, element)] if listing.next_link.is_none() => parse_element(element, origin),
        elements => Err(PolicyError::Invalid {
            origin: origin.to_owned(),
            path: String::new(),
            problem: ParseProblem::NotOnePolicy {
                count: elements.len(),
                layout: listing.layout,
                more_pages: listing.next_link.is_some(),
            },
        }),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, PolicyError> {
    std::fs::read(path).map_err(|source| PolicyError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The bytes decoded ([`decode_text`]) and parsed as JSON.
fn read_json(bytes: &[u8], origin: &str) -> Result<Value, PolicyError> {
    let text = decode_text(bytes).map_err(|message| PolicyError::Syntax {
        origin: origin.to_owned(),
        line: 1,
        column: 1,
        message,
    })?;
    serde_json::from_slice(&text).map_err(|error| {
        let (line, column, message) = json_error_parts(&error);
        PolicyError::Syntax {
            origin: origin.to_owned(),
            line,
            column,
            message,
        }
    })
}

/// A file's top-level JSON split into the values that should each be one policy.
struct Listing<'v> {
    layout: Layout,
    /// Each element with the origin that names it.
    elements: Vec<(String, &'v Value)>,
    /// A Graph list page's `@odata.nextLink`.
    next_link: Option<&'v str>,
}

impl<'v> Listing<'v> {
    fn of(value: &'v Value, origin: &str) -> Listing<'v> {
        match value {
            Value::Array(items) => Listing {
                layout: Layout::Array,
                elements: items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| (format!("{origin}#[{i}]"), item))
                    .collect(),
                next_link: None,
            },
            Value::Object(object) if is_graph_list(object) => {
                let items = object
                    .get("value")
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                Listing {
                    layout: Layout::GraphList,
                    elements: items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| (format!("{origin}#value[{i}]"), item))
                        .collect(),
                    next_link: object.get("@odata.nextLink").and_then(Value::as_str),
                }
            }
            _ => Listing {
                layout: Layout::Single,
                elements: vec![(origin.to_owned(), value)],
                next_link: None,
            },
        }
    }
}

/// Whether an object is a Graph list response (or PowerShell 5.1's
/// `{"value": [...], "Count": n}`) rather than a policy or a wrapper: a `value` array and none
/// of the members that make a policy or a CIPP wrapper.
fn is_graph_list(object: &Object) -> bool {
    matches!(object.get("value"), Some(Value::Array(_)))
        && !["settings", "JSON", "RAWJson", "TemplateJson"]
            .iter()
            .any(|key| object.contains_key(*key))
}

/// Parses one value that should be a policy, bare or in a CIPP wrapper.
fn parse_element(value: &Value, origin: &str) -> Result<PolicyDocument, PolicyError> {
    let parser = Parser { origin };
    let root = JsonPath::Root;
    let object = parser.object(value, &root)?;
    if object.contains_key("settings") {
        return parser.document(object, &root, None);
    }
    for key in ["JSON", "RAWJson", "TemplateJson"] {
        if let Some(Value::String(embedded)) = object.get(key) {
            return parser.cipp(object, key, embedded);
        }
    }
    if let Some(what) = not_a_policy(object) {
        return Err(parser.invalid(&root, ParseProblem::NotAPolicy(what)));
    }
    parser.document(object, &root, None)
}

/// The file's bytes as UTF-8: a UTF-8 byte order mark dropped, UTF-16 (by its byte order mark,
/// or by the NUL byte beside each ASCII character of its first two characters) decoded.
fn decode_text(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    use std::borrow::Cow;
    let utf16 = |body: &[u8], little: bool| -> Result<Cow<'_, [u8]>, String> {
        if !body.len().is_multiple_of(2) {
            return Err("UTF-16 text with an odd number of bytes".to_owned());
        }
        let units = body.chunks_exact(2).map(|pair| {
            let pair = [pair[0], pair[1]];
            if little {
                u16::from_le_bytes(pair)
            } else {
                u16::from_be_bytes(pair)
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map(|text| Cow::Owned(text.into_bytes()))
            .map_err(|e| format!("invalid UTF-16: {e}"))
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => Ok(Cow::Borrowed(rest)),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        [a, 0, b, 0, ..] if a.is_ascii() && b.is_ascii() && *a != 0 => utf16(bytes, true),
        [0, a, 0, b, ..] if a.is_ascii() && b.is_ascii() && *a != 0 => utf16(bytes, false),
        _ => Ok(Cow::Borrowed(bytes)),
    }
}

/// What an object that is not a policy looks like, when rampart can tell.
fn not_a_policy(object: &Object) -> Option<String> {
    if object.contains_key("settings") {
        return None;
    }
    if let Some(Value::Array(items)) = object.get("value") {
        // A list at the top of a file is a layout (`Listing`); here it is inside another list.
        let paged = if object.contains_key("@odata.nextLink") {
            ", with more pages behind @odata.nextLink"
        } else {
            ""
        };
        return Some(format!(
            "a Graph list response with {} item(s){paged}, inside another list",
            items.len()
        ));
    }
    const MDATP_KEYS: &[&str] = &[
        "antivirusEngine",
        "cloudService",
        "edr",
        "exclusionSettings",
        "networkProtection",
    ];
    if MDATP_KEYS.iter().any(|key| object.contains_key(*key)) {
        return Some(
            "Defender for Endpoint's managed configuration (mdatp_managed.json or its plist), which rampart writes from a policy"
                .to_owned(),
        );
    }
    if object.contains_key("TenantId") && matches!(object.get("Objects"), Some(Value::Array(_))) {
        return Some(
            "IntuneManagement's MigrationTable.json (the ids an import maps between tenants)"
                .to_owned(),
        );
    }
    let odata_type = object
        .get("@odata.type")
        .and_then(Value::as_str)
        .map(graph_type_name)?;
    if odata_type == "deviceManagementIntent" {
        return Some(
            "an endpoint-security intent (deviceManagement/intents, the format before the settings catalog)"
                .to_owned(),
        );
    }
    if odata_type.ends_with("Configuration") || odata_type.ends_with("Profile") {
        return Some(format!(
            "a device configuration profile ('{odata_type}', deviceManagement/deviceConfigurations)"
        ));
    }
    if odata_type.ends_with("CompliancePolicy") {
        return Some(format!(
            "a device compliance policy ('{odata_type}', deviceManagement/deviceCompliancePolicies)"
        ));
    }
    None
}

/// A date as Graph writes it, or PowerShell 5.1's `/Date(ms)/` (RFC 3339 then).
fn graph_date(text: &str) -> String {
    let ms = text
        .strip_prefix("/Date(")
        .and_then(|rest| rest.strip_suffix(")/"))
        // An offset (`/Date(ms+0100)/`) does not change the instant.
        .and_then(|inner| inner.split(['+', '-']).find(|part| !part.is_empty()))
        .filter(|_| !text.starts_with("/Date(-"))
        .and_then(|ms| ms.parse::<u64>().ok());
    match ms {
        Some(ms) => humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
        )
        .to_string(),
        None => text.to_owned(),
    }
}

/// Splits a comma-separated Graph flags value (`"mdm,microsoftSense"`) into trimmed parts.
pub(crate) fn split_flags(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The Graph type name without `#` and the `microsoft.graph.` namespace.
pub(crate) fn graph_type_name(odata_type: &str) -> &str {
    let name = odata_type.strip_prefix('#').unwrap_or(odata_type);
    name.strip_prefix("microsoft.graph.").unwrap_or(name)
}

/// A human description of a JSON value's type, for [`ParseProblem::WrongType`].
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The six setting instance kinds, as named by their `@odata.type`.
#[derive(Debug, Clone, Copy)]
enum InstanceKind {
    Choice,
    Simple,
    SimpleCollection,
    ChoiceCollection,
    GroupCollection,
    Group,
}

impl InstanceKind {
    fn from_odata_type(odata_type: &str) -> Option<Self> {
        let kind = match graph_type_name(odata_type) {
            "deviceManagementConfigurationChoiceSettingInstance" => InstanceKind::Choice,
            "deviceManagementConfigurationSimpleSettingInstance" => InstanceKind::Simple,
            "deviceManagementConfigurationSimpleSettingCollectionInstance" => {
                InstanceKind::SimpleCollection
            }
            "deviceManagementConfigurationChoiceSettingCollectionInstance" => {
                InstanceKind::ChoiceCollection
            }
            "deviceManagementConfigurationGroupSettingCollectionInstance" => {
                InstanceKind::GroupCollection
            }
            "deviceManagementConfigurationGroupSettingInstance" => InstanceKind::Group,
            _ => return None,
        };
        Some(kind)
    }
}

/// Walks a parsed JSON value, turning every mismatch into a [`PolicyError`] with its path.
struct Parser<'o> {
    origin: &'o str,
}

type Object = Map<String, Value>;

impl Parser<'_> {
    fn invalid(&self, path: &JsonPath<'_>, problem: ParseProblem) -> PolicyError {
        PolicyError::Invalid {
            origin: self.origin.to_owned(),
            path: path.to_string(),
            problem,
        }
    }

    fn wrong_type(
        &self,
        path: &JsonPath<'_>,
        expected: &'static str,
        found: &Value,
    ) -> PolicyError {
        self.invalid(
            path,
            ParseProblem::WrongType {
                expected,
                found: json_type(found),
            },
        )
    }

    fn object<'v>(&self, value: &'v Value, path: &JsonPath<'_>) -> Result<&'v Object, PolicyError> {
        value
            .as_object()
            .ok_or_else(|| self.wrong_type(path, "an object", value))
    }

    /// A member that must be present and not `null`.
    fn required<'v>(
        &self,
        object: &'v Object,
        key: &'static str,
        path: &JsonPath<'_>,
    ) -> Result<&'v Value, PolicyError> {
        match object.get(key) {
            None | Some(Value::Null) => Err(self.invalid(path, ParseProblem::MissingField(key))),
            Some(value) => Ok(value),
        }
    }

    fn required_str<'v>(
        &self,
        object: &'v Object,
        key: &'static str,
        path: &JsonPath<'_>,
    ) -> Result<&'v str, PolicyError> {
        let value = self.required(object, key, path)?;
        value
            .as_str()
            .ok_or_else(|| self.wrong_type(&path.key(key), "a string", value))
    }

    /// A required string that must also be non-empty (ids).
    fn required_id<'v>(
        &self,
        object: &'v Object,
        key: &'static str,
        path: &JsonPath<'_>,
    ) -> Result<&'v str, PolicyError> {
        let text = self.required_str(object, key, path)?;
        if text.is_empty() {
            return Err(self.invalid(path, ParseProblem::EmptyField(key)));
        }
        Ok(text)
    }

    fn optional_str<'v>(
        &self,
        object: &'v Object,
        key: &'static str,
        path: &JsonPath<'_>,
    ) -> Result<Option<&'v str>, PolicyError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(self.wrong_type(&path.key(key), "a string", other)),
        }
    }

    /// A date member: a string, or PowerShell 5.1's object form with the string in `value`.
    fn date(
        &self,
        object: &Object,
        key: &'static str,
        path: &JsonPath<'_>,
    ) -> Result<Option<String>, PolicyError> {
        match object.get(key) {
            Some(Value::Object(ps)) => Ok(ps.get("value").and_then(Value::as_str).map(graph_date)),
            _ => Ok(self.optional_str(object, key, path)?.map(graph_date)),
        }
    }

    fn required_object<'v>(
        &self,
        object: &'v Object,
        key: &'static str,
        path: &JsonPath<'_>,
    ) -> Result<&'v Object, PolicyError> {
        let value = self.required(object, key, path)?;
        self.object(value, &path.key(key))
    }

    fn required_array<'v>(
        &self,
        object: &'v Object,
        key: &'static str,
        path: &JsonPath<'_>,
    ) -> Result<&'v [Value], PolicyError> {
        let value = self.required(object, key, path)?;
        value
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| self.wrong_type(&path.key(key), "an array", value))
    }

    /// An array member where absence and `null` mean empty (`children`, collection values):
    /// some export tools drop empty lists.
    fn array_or_empty<'v>(
        &self,
        object: &'v Object,
        key: &'static str,
        path: &JsonPath<'_>,
    ) -> Result<&'v [Value], PolicyError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong_type(&path.key(key), "an array", other)),
        }
    }

    /// Unwraps a CIPP wrapper whose member `key` is the string `embedded`: a templates-table
    /// entity (`JSON` → template), a template (`RAWJson` → policy) or a backup item
    /// (`TemplateJson` → policy).
    fn cipp(
        &self,
        wrapper: &Object,
        key: &'static str,
        embedded: &str,
    ) -> Result<PolicyDocument, PolicyError> {
        let root = JsonPath::Root;
        // CIPP strips the policy id; the template's own GUID is the stable name it has.
        let wrapper_id = |object: &Object| {
            ["GUID", "RowKey"]
                .iter()
                .find_map(|key| object.get(*key).and_then(Value::as_str))
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
        };
        let key_path = root.key(key);
        let inner = self.embedded_json(embedded, &key_path)?;
        if key != "JSON" {
            self.cipp_type(wrapper, &root)?;
            let policy = self.object(&inner, &key_path)?;
            return self.embedded_policy(policy, &key_path, wrapper_id(wrapper).as_deref());
        }
        let template = self.object(&inner, &key_path)?;
        self.cipp_type(template, &key_path)?;
        let raw = self.required_str(template, "RAWJson", &key_path)?;
        let raw_path = key_path.key("RAWJson");
        let policy = self.embedded_json(raw, &raw_path)?;
        let policy = self.object(&policy, &raw_path)?;
        let id = wrapper_id(wrapper).or_else(|| wrapper_id(template));
        self.embedded_policy(policy, &raw_path, id.as_deref())
    }

    /// Refuses a CIPP template or backup item whose `Type` says it holds something other than
    /// a settings-catalog policy.
    fn cipp_type(&self, template: &Object, path: &JsonPath<'_>) -> Result<(), PolicyError> {
        match template.get("Type").and_then(Value::as_str) {
            Some(kind) if !kind.eq_ignore_ascii_case("Catalog") => Err(self.invalid(
                path,
                ParseProblem::NotAPolicy(format!(
                    "a CIPP template of type '{kind}' (only 'Catalog' templates hold settings-catalog policies)"
                )),
            )),
            _ => Ok(()),
        }
    }

    /// The policy a CIPP wrapper holds at `path`.
    fn embedded_policy(
        &self,
        policy: &Object,
        path: &JsonPath<'_>,
        fallback_id: Option<&str>,
    ) -> Result<PolicyDocument, PolicyError> {
        if let Some(what) = not_a_policy(policy) {
            return Err(self.invalid(path, ParseProblem::NotAPolicy(what)));
        }
        self.document(policy, path, fallback_id)
    }

    fn embedded_json(&self, text: &str, path: &JsonPath<'_>) -> Result<Value, PolicyError> {
        serde_json::from_str(text).map_err(|error| {
            let (line, column, message) = json_error_parts(&error);
            self.invalid(
                path,
                ParseProblem::EmbeddedJson {
                    line,
                    column,
                    message,
                },
            )
        })
    }

    /// The policy `object` at `root` (the top of the element, or the string of a CIPP wrapper
    /// that holds it).
    fn document(
        &self,
        object: &Object,
        root: &JsonPath<'_>,
        fallback_id: Option<&str>,
    ) -> Result<PolicyDocument, PolicyError> {
        let id = self
            .optional_str(object, "id", root)?
            .filter(|id| !id.is_empty())
            .or(fallback_id)
            .unwrap_or_default();
        let name = self.required_str(object, "name", root)?;
        let description = self.optional_str(object, "description", root)?;
        let platforms = self.required_str(object, "platforms", root)?;
        let technologies = self.required_str(object, "technologies", root)?;
        let template = self.template(object, root)?;
        let last_modified = self.date(object, "lastModifiedDateTime", root)?;

        if matches!(object.get("settings"), None | Some(Value::Null))
            && object.contains_key("settingCount")
        {
            return Err(self.invalid(root, ParseProblem::SettingsNotExpanded));
        }
        let settings_path = root.key("settings");
        let mut settings = Vec::new();
        for (index, setting) in self
            .required_array(object, "settings", root)?
            .iter()
            .enumerate()
        {
            let path = settings_path.index(index);
            let setting = self.object(setting, &path)?;
            let instance = self.required(setting, "settingInstance", &path)?;
            settings.push(self.instance(instance, &path.key("settingInstance"))?);
        }

        let assignments = match object.get("assignments") {
            None | Some(Value::Null) => None,
            Some(_) => Some(self.assignments(object, root)?),
        };

        Ok(PolicyDocument {
            id: id.to_owned(),
            name: name.to_owned(),
            description: description.unwrap_or_default().to_owned(),
            platforms: platforms.to_owned(),
            technologies: split_flags(technologies),
            template,
            settings,
            assignments,
            last_modified,
            origin: self.origin.to_owned(),
        })
    }

    fn template(
        &self,
        object: &Object,
        root: &JsonPath<'_>,
    ) -> Result<Option<TemplateReference>, PolicyError> {
        let path = root.key("templateReference");
        let reference = match object.get("templateReference") {
            None | Some(Value::Null) => return Ok(None),
            Some(value) => self.object(value, &path)?,
        };
        // Plain settings-catalog policies carry a reference with an empty id: no template.
        let Some(template_id) = self
            .optional_str(reference, "templateId", &path)?
            .filter(|id| !id.is_empty())
        else {
            return Ok(None);
        };
        Ok(Some(TemplateReference {
            template_id: template_id.to_owned(),
            template_family: self
                .optional_str(reference, "templateFamily", &path)?
                .map(str::to_owned),
            display_name: self
                .optional_str(reference, "templateDisplayName", &path)?
                .map(str::to_owned),
        }))
    }

    fn assignments(
        &self,
        object: &Object,
        root: &JsonPath<'_>,
    ) -> Result<Vec<Assignment>, PolicyError> {
        let list_path = root.key("assignments");
        let mut assignments = Vec::new();
        for (index, assignment) in self
            .required_array(object, "assignments", root)?
            .iter()
            .enumerate()
        {
            let path = list_path.index(index);
            let assignment = self.object(assignment, &path)?;
            let target = self.required_object(assignment, "target", &path)?;
            let target_path = path.key("target");
            let odata_type = self.required_str(target, "@odata.type", &target_path)?;
            // deviceAndAppManagementAssignmentFilterId/-Type are deliberately not read: Intune
            // ignores assignment filters for devices managed by Defender for Endpoint.
            let target = match graph_type_name(odata_type) {
                "groupAssignmentTarget" => AssignmentTarget::Group(
                    self.required_id(target, "groupId", &target_path)?
                        .to_owned(),
                ),
                "exclusionGroupAssignmentTarget" => AssignmentTarget::ExclusionGroup(
                    self.required_id(target, "groupId", &target_path)?
                        .to_owned(),
                ),
                "allDevicesAssignmentTarget" => AssignmentTarget::AllDevices,
                "allLicensedUsersAssignmentTarget" => AssignmentTarget::AllLicensedUsers,
                _ => AssignmentTarget::Other(odata_type.to_owned()),
            };
            assignments.push(Assignment { target });
        }
        Ok(assignments)
    }

    fn instances(
        &self,
        object: &Object,
        key: &'static str,
        path: &JsonPath<'_>,
    ) -> Result<Vec<SettingInstance>, PolicyError> {
        let list_path = path.key(key);
        self.array_or_empty(object, key, path)?
            .iter()
            .enumerate()
            .map(|(index, child)| self.instance(child, &list_path.index(index)))
            .collect()
    }

    fn instance(&self, value: &Value, path: &JsonPath<'_>) -> Result<SettingInstance, PolicyError> {
        let object = self.object(value, path)?;
        let odata_type = self.required_str(object, "@odata.type", path)?;
        let kind = InstanceKind::from_odata_type(odata_type).ok_or_else(|| {
            self.invalid(path, ParseProblem::UnknownOdataType(odata_type.to_owned()))
        })?;
        let definition_id = self
            .required_id(object, "settingDefinitionId", path)?
            .to_owned();

        Ok(match kind {
            InstanceKind::Choice => {
                let value = self.required_object(object, "choiceSettingValue", path)?;
                let value_path = path.key("choiceSettingValue");
                SettingInstance::Choice {
                    definition_id,
                    value: self.required_id(value, "value", &value_path)?.to_owned(),
                    children: self.instances(value, "children", &value_path)?,
                }
            }
            InstanceKind::Simple => {
                let value = self.required(object, "simpleSettingValue", path)?;
                SettingInstance::Simple {
                    definition_id,
                    value: self.simple_value(value, &path.key("simpleSettingValue"))?,
                }
            }
            InstanceKind::SimpleCollection => {
                let key = "simpleSettingCollectionValue";
                let list_path = path.key(key);
                let values = self
                    .array_or_empty(object, key, path)?
                    .iter()
                    .enumerate()
                    .map(|(index, value)| self.simple_value(value, &list_path.index(index)))
                    .collect::<Result<_, _>>()?;
                SettingInstance::SimpleCollection {
                    definition_id,
                    values,
                }
            }
            InstanceKind::ChoiceCollection => {
                let key = "choiceSettingCollectionValue";
                let list_path = path.key(key);
                let mut values = Vec::new();
                for (index, item) in self.array_or_empty(object, key, path)?.iter().enumerate() {
                    let item_path = list_path.index(index);
                    let item = self.object(item, &item_path)?;
                    values.push(ChoiceItem {
                        value: self.required_id(item, "value", &item_path)?.to_owned(),
                        children: self.instances(item, "children", &item_path)?,
                    });
                }
                SettingInstance::ChoiceCollection {
                    definition_id,
                    values,
                }
            }
            InstanceKind::GroupCollection => {
                let key = "groupSettingCollectionValue";
                let list_path = path.key(key);
                let mut items = Vec::new();
                for (index, item) in self.array_or_empty(object, key, path)?.iter().enumerate() {
                    let item_path = list_path.index(index);
                    let item = self.object(item, &item_path)?;
                    items.push(self.instances(item, "children", &item_path)?);
                }
                SettingInstance::GroupCollection {
                    definition_id,
                    items,
                }
            }
            InstanceKind::Group => {
                let value = self.required_object(object, "groupSettingValue", path)?;
                SettingInstance::Group {
                    definition_id,
                    children: self.instances(value, "children", &path.key("groupSettingValue"))?,
                }
            }
        })
    }

    fn simple_value(&self, value: &Value, path: &JsonPath<'_>) -> Result<SimpleValue, PolicyError> {
        let object = self.object(value, path)?;
        let odata_type = self.required_str(object, "@odata.type", path)?;
        let value = self.required(object, "value", path)?;
        let value_path = path.key("value");
        match graph_type_name(odata_type) {
            "deviceManagementConfigurationIntegerSettingValue" => match value {
                Value::Number(number) => {
                    number.as_i64().map(SimpleValue::Integer).ok_or_else(|| {
                        self.invalid(&value_path, ParseProblem::NotAnInteger(number.to_string()))
                    })
                }
                other => Err(self.wrong_type(&value_path, "an integer", other)),
            },
            "deviceManagementConfigurationStringSettingValue"
            | "deviceManagementConfigurationReferenceSettingValue" => value
                .as_str()
                .map(|text| SimpleValue::String(text.to_owned()))
                .ok_or_else(|| self.wrong_type(&value_path, "a string", value)),
            // The secret's text never enters an error message: only its JSON type does.
            "deviceManagementConfigurationSecretSettingValue" => value
                .as_str()
                .map(|text| SimpleValue::Secret(Secret::new(text)))
                .ok_or_else(|| self.wrong_type(&value_path, "a string", value)),
            _ => Err(self.invalid(path, ParseProblem::UnknownOdataType(odata_type.to_owned()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(id: &str, value: &str) -> String {
        format!(
            r##"{{"@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
                "settingDefinitionId": "{id}",
                "choiceSettingValue": {{"value": "{value}", "children": []}}}}"##
        )
    }

    fn policy_with(instances: &[String]) -> String {
        let settings: Vec<String> = instances
            .iter()
            .enumerate()
            .map(|(i, instance)| format!(r#"{{"id": "{i}", "settingInstance": {instance}}}"#))
            .collect();
        format!(
            r#"{{"id": "p", "name": "n", "platforms": "windows10",
                "technologies": "mdm, microsoftSense", "settings": [{}]}}"#,
            settings.join(",")
        )
    }

    #[test]
    fn splits_and_trims_technologies() {
        let doc = parse_policy(policy_with(&[]).as_bytes(), "t.json").expect("valid policy");
        assert_eq!(doc.technologies, ["mdm", "microsoftSense"]);
        assert_eq!(doc.assignments, None);
        assert_eq!(doc.template, None);
        assert_eq!(doc.origin, "t.json");
    }

    #[test]
    fn strips_a_byte_order_mark() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(policy_with(&[choice("a", "a_1")]).as_bytes());
        let doc = parse_policy(&bytes, "bom.json").expect("BOM is stripped");
        assert_eq!(doc.settings.len(), 1);
    }

    #[test]
    fn utf16_exports_and_powershell_dates_read_like_utf8() {
        let utf8 = br#"{"name":"n","platforms":"windows10","technologies":"mdm","settings":[],
            "lastModifiedDateTime":{"value":"\/Date(1705285879967)\/","DisplayHint":2}}"#;
        let expected = parse_policy(utf8, "a.json").unwrap();
        assert_eq!(
            expected.last_modified.as_deref(),
            Some("2024-01-15T02:31:19.967Z")
        );
        let text = std::str::from_utf8(utf8).unwrap();
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        let bare: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        for bytes in [le, be, bare] {
            assert_eq!(parse_policy(&bytes, "a.json").unwrap(), expected);
        }
        let plain = br#"{"name":"n","platforms":"windows10","technologies":"mdm","settings":[],
            "lastModifiedDateTime":"\/Date(1705285879967+0100)\/"}"#;
        assert_eq!(
            parse_policy(plain, "a.json").unwrap().last_modified,
            expected.last_modified
        );
        let odd = [0xFF, 0xFE, b'{'];
        assert!(matches!(
            parse_policy(&odd, "a.json"),
            Err(PolicyError::Syntax { .. })
        ));
    }

    #[test]
    fn files_that_are_not_policies_say_what_they_look_like() {
        let cases: [(&[u8], &str); 5] = [
            (
                br#"{"antivirusEngine":{"enforcementLevel":"real_time"}}"#,
                "mdatp_managed.json",
            ),
            (
                br##"{"@odata.type":"#microsoft.graph.windows10EndpointProtectionConfiguration","displayName":"x"}"##,
                "a device configuration profile ('windows10EndpointProtectionConfiguration'",
            ),
            (
                br##"{"@odata.type":"#microsoft.graph.windows10CompliancePolicy"}"##,
                "a device compliance policy ('windows10CompliancePolicy'",
            ),
            (
                br#"{"TenantId":"t","Organization":"o","Objects":[]}"#,
                "IntuneManagement's MigrationTable.json",
            ),
            (
                br##"{"@odata.type":"#microsoft.graph.deviceManagementIntent"}"##,
                "an endpoint-security intent",
            ),
        ];
        for (bytes, what) in cases {
            let message = parse_policy(bytes, "f.json").unwrap_err().to_string();
            assert!(message.contains(what), "{message}");
            assert!(
                message.starts_with("policy 'f.json': not an Intune"),
                "{message}"
            );
            assert!(!message.contains('\n'));
        }
    }

    #[test]
    fn parse_policy_wants_exactly_one_policy() {
        let one = policy_with(&[choice("a", "a_1")]);
        let listed = format!(r#"{{"value": [{one}]}}"#);
        let doc = parse_policy(listed.as_bytes(), "l.json").expect("a list of one");
        assert_eq!(doc.origin, "l.json#value[0]");
        let cases = [
            (
                format!("[{one}, {one}]"),
                "policy 'f.json': holds 2 policies (a JSON array) where exactly one is expected",
            ),
            (
                r#"{"value": []}"#.to_owned(),
                "policy 'f.json': holds 0 policies (a Graph list response) where exactly one is expected",
            ),
            (
                format!(r#"{{"value": [{one}], "@odata.nextLink": "https://n"}}"#),
                "policy 'f.json': holds 1 policy (a Graph list response, with more pages behind @odata.nextLink) where exactly one is expected",
            ),
        ];
        for (json, message) in cases {
            let error = parse_policy(json.as_bytes(), "f.json").unwrap_err();
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn lists_and_arrays_name_each_element_and_note_pages_and_emptiness() {
        let one = policy_with(&[choice("a", "a_1")]);
        let page = format!(
            r#"{{"@odata.context": "c", "value": [{one}, {one}], "@odata.nextLink": "https://next"}}"#
        );
        let file = parse_policies(page.as_bytes(), "p.json").expect("a page");
        assert_eq!(file.layout, Layout::GraphList);
        let origins: Vec<&str> = file.documents.iter().map(|d| d.origin.as_str()).collect();
        assert_eq!(origins, ["p.json#value[0]", "p.json#value[1]"]);
        assert_eq!(
            file.notes,
            [Note::MorePages {
                origin: "p.json".into(),
                count: 2,
                next_link: "https://next".into()
            }]
        );
        assert!(!file.notes[0].to_string().contains('\n'));

        let array = format!("[{one}]");
        let file = parse_policies(array.as_bytes(), "a.json").expect("an array");
        assert_eq!(file.layout, Layout::Array);
        assert_eq!(file.documents[0].origin, "a.json#[0]");
        assert!(file.notes.is_empty());

        for (json, layout) in [
            ("[]", Layout::Array),
            (r#"{"value":[]}"#, Layout::GraphList),
        ] {
            let file = parse_policies(json.as_bytes(), "e.json").expect("empty is readable");
            assert!(file.documents.is_empty());
            assert_eq!(
                file.notes,
                [Note::Empty {
                    origin: "e.json".into(),
                    layout
                }]
            );
        }

        let single = parse_policies(one.as_bytes(), "s.json").expect("one policy");
        assert_eq!(single.layout, Layout::Single);
        assert_eq!(single.documents[0].origin, "s.json");
    }

    #[test]
    fn a_settings_list_without_expanded_settings_says_so() {
        let listed = r#"{"value": [{"id": "p", "name": "n", "platforms": "windows10",
            "technologies": "mdm", "settingCount": 4}]}"#;
        assert_eq!(
            parse_policies(listed.as_bytes(), "l.json")
                .unwrap_err()
                .to_string(),
            "policy 'l.json#value[0]': missing field 'settings': Graph lists a policy's settings only when asked with $expand=settings (this one has only settingCount)"
        );
    }

    #[test]
    fn unwraps_the_cipp_wrapper_and_takes_its_guid() {
        let policy = policy_with(&[choice("a", "a_1")]).replace(r#""id": "p","#, "");
        let inner = serde_json::json!({ "Displayname": "x", "RAWJson": policy }).to_string();
        let wrapper = serde_json::json!({ "RowKey": "row", "GUID": "guid-1", "JSON": inner });
        let doc = parse_policy(wrapper.to_string().as_bytes(), "cipp.json").expect("unwrapped");
        assert_eq!(doc.id, "guid-1");
        assert_eq!(doc.settings.len(), 1);

        // The template alone (CIPP-API's Config/*.IntuneTemplate.json), and a backup item.
        let template = serde_json::json!({ "RAWJson": policy, "Type": "Catalog", "GUID": "g2" });
        let doc = parse_policy(template.to_string().as_bytes(), "t.json").expect("template");
        assert_eq!((doc.id.as_str(), doc.settings.len()), ("g2", 1));
        let item = serde_json::json!({ "TemplateJson": policy, "Type": "Catalog" });
        let doc = parse_policy(item.to_string().as_bytes(), "b.json").expect("backup item");
        assert_eq!((doc.id.as_str(), doc.settings.len()), ("", 1));

        let device = serde_json::json!({ "TemplateJson": "{}", "Type": "Device" });
        assert_eq!(
            parse_policy(device.to_string().as_bytes(), "d.json")
                .unwrap_err()
                .to_string(),
            "policy 'd.json': not an Intune endpoint-security or settings-catalog policy: this looks like a CIPP template of type 'Device' (only 'Catalog' templates hold settings-catalog policies); rampart reads Graph's deviceManagement/configurationPolicies objects, one per file or a list of them"
        );
        let inner = serde_json::json!({ "RAWJson": r#"{"name": "n"}"# }).to_string();
        let wrapper = serde_json::json!({ "GUID": "g", "JSON": inner });
        assert_eq!(
            parse_policy(wrapper.to_string().as_bytes(), "c.json")
                .unwrap_err()
                .to_string(),
            "policy 'c.json': JSON.RAWJson: missing field 'platforms'"
        );
    }

    #[test]
    fn reads_assignment_targets_and_drops_filters() {
        let json = policy_with(&[]).replace(
            r#""settings""#,
            r##""assignments": [
                {"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": "g1",
                            "deviceAndAppManagementAssignmentFilterId": "f", "deviceAndAppManagementAssignmentFilterType": "include"}},
                {"target": {"@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget", "groupId": "g2"}},
                {"target": {"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}},
                {"target": {"@odata.type": "#microsoft.graph.allLicensedUsersAssignmentTarget"}},
                {"target": {"@odata.type": "#microsoft.graph.somethingNew"}}
            ], "settings""##,
        );
        let doc = parse_policy(json.as_bytes(), "a.json").expect("valid assignments");
        let targets: Vec<_> = doc
            .assignments
            .expect("assignments present")
            .into_iter()
            .map(|a| a.target)
            .collect();
        assert_eq!(
            targets,
            [
                AssignmentTarget::Group("g1".into()),
                AssignmentTarget::ExclusionGroup("g2".into()),
                AssignmentTarget::AllDevices,
                AssignmentTarget::AllLicensedUsers,
                AssignmentTarget::Other("#microsoft.graph.somethingNew".into()),
            ]
        );
    }

    #[test]
    fn parses_every_instance_kind() {
        let simple = r##"{"@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
            "settingDefinitionId": "s", "simpleSettingValue": {
              "@odata.type": "#microsoft.graph.deviceManagementConfigurationIntegerSettingValue", "value": 5}}"##;
        let collection = r##"{"@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingCollectionInstance",
            "settingDefinitionId": "sc", "simpleSettingCollectionValue": [
              {"@odata.type": "#microsoft.graph.deviceManagementConfigurationStringSettingValue", "value": "C:\\x"}]}"##;
        let choices = r##"{"@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingCollectionInstance",
            "settingDefinitionId": "cc", "choiceSettingCollectionValue": [{"value": "cc_1", "children": []}]}"##;
        let group = r##"{"@odata.type": "#microsoft.graph.deviceManagementConfigurationGroupSettingInstance",
            "settingDefinitionId": "g", "groupSettingValue": {"children": []}}"##;
        let groups = r##"{"@odata.type": "#microsoft.graph.deviceManagementConfigurationGroupSettingCollectionInstance",
            "settingDefinitionId": "gc", "groupSettingCollectionValue": [{"children": [CHOICE]}, {}]}"##
            .replace("CHOICE", &choice("gc_a", "gc_a_1"));
        let json = policy_with(&[
            simple.into(),
            collection.into(),
            choices.into(),
            group.into(),
            groups,
        ]);
        let doc = parse_policy(json.as_bytes(), "kinds.json").expect("all kinds parse");
        assert_eq!(
            doc.settings,
            [
                SettingInstance::Simple {
                    definition_id: "s".into(),
                    value: SimpleValue::Integer(5)
                },
                SettingInstance::SimpleCollection {
                    definition_id: "sc".into(),
                    values: vec![SimpleValue::String("C:\\x".into())]
                },
                SettingInstance::ChoiceCollection {
                    definition_id: "cc".into(),
                    values: vec![ChoiceItem {
                        value: "cc_1".into(),
                        children: vec![]
                    }]
                },
                SettingInstance::Group {
                    definition_id: "g".into(),
                    children: vec![]
                },
                SettingInstance::GroupCollection {
                    definition_id: "gc".into(),
                    items: vec![
                        vec![SettingInstance::Choice {
                            definition_id: "gc_a".into(),
                            value: "gc_a_1".into(),
                            children: vec![]
                        }],
                        vec![]
                    ]
                },
            ]
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_display() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(secret.to_string(), "<redacted>");
        assert_eq!(secret.expose(), "hunter2");
        let value = SimpleValue::Secret(secret);
        assert!(!format!("{value:?}").contains("hunter2"));
    }

    #[test]
    fn a_non_integer_number_is_reported_with_its_path() {
        let simple = r##"{"@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
            "settingDefinitionId": "s", "simpleSettingValue": {
              "@odata.type": "#microsoft.graph.deviceManagementConfigurationIntegerSettingValue", "value": 1.5}}"##;
        let error = parse_policy(policy_with(&[simple.into()]).as_bytes(), "n.json")
            .expect_err("1.5 is not an integer");
        assert_eq!(
            error.to_string(),
            "policy 'n.json': settings[0].settingInstance.simpleSettingValue.value: '1.5' is not a 64-bit integer"
        );
    }
}
