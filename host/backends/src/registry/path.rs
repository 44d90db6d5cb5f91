//! Canonical registry key paths.
//!
//! Grant checks compare these paths, so parsing is a security boundary: two spellings that reach
//! the same key must compare equal, and anything that could make a path look like it is inside a
//! granted prefix while the registry resolves it elsewhere is rejected rather than normalised.
//!
//! Accepted: `HIVE` or `HIVE\Component\...`, where `HIVE` is a long (`HKEY_LOCAL_MACHINE`) or
//! short (`HKLM`) hive name in any case. Rejected: the empty string, unknown hives, `/`
//! anywhere, empty components (leading, trailing or doubled `\`), `.` and `..`, control
//! characters (NUL included), components ending in whitespace or `.`, NT prefixes such as
//! `\\?\`, components over 255 UTF-16 units, paths over 32767 UTF-16 units (measured on the
//! long form) and more than 512 components below the hive.
//!
//! Windows registry key names may legally contain `/` and end in spaces; rampart refuses them
//! anyway, because such names are how look-alike keys are made.
//!
//! # Case
//!
//! Keys compare case-insensitively the way the registry does: each character is mapped through
//! its simple uppercase (`char::to_uppercase`, like Windows' one-to-one upcase table). Where
//! Unicode uppercases one character into several (`ß` → `SS`, ligatures), the character is kept
//! as is, so `straße` and `STRASSE` are *distinct*, as they are in the registry. A non-ASCII
//! character whose uppercase is ASCII (`ı` → `I`, `ſ` → `S`) is also kept as is: treating
//! `Policieſ` as `POLICIES` could let a path pass a grant check on `...\Policies` while Windows
//! opens a different key. Erring towards "distinct" can only deny, never widen, a grant.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::quote::quoted;

/// Longest key name component, in UTF-16 units (the registry's limit).
const MAX_COMPONENT_UNITS: usize = 255;
/// Longest full key path, in UTF-16 units, measured on the long form.
const MAX_PATH_UNITS: usize = 32767;
/// Deepest key below a hive (the registry's nesting limit).
const MAX_DEPTH: usize = 512;
/// Longest value name, in UTF-16 units.
const MAX_VALUE_NAME_UNITS: usize = 16383;

/// Separates folded components in [`RegistryPath::folded`]. NUL cannot occur in a component,
/// and sorts below every other character, so comparing the joined strings is the same as
/// comparing component lists (a parent sorts right before its subtree).
pub(crate) const FOLD_SEP: char = '\0';

/// A registry hive (root key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hive {
    /// `HKEY_LOCAL_MACHINE` (`HKLM`).
    LocalMachine,
    /// `HKEY_CURRENT_USER` (`HKCU`).
    CurrentUser,
    /// `HKEY_CLASSES_ROOT` (`HKCR`).
    ClassesRoot,
    /// `HKEY_USERS` (`HKU`).
    Users,
    /// `HKEY_CURRENT_CONFIG` (`HKCC`).
    CurrentConfig,
}

impl Hive {
    /// Every hive, in sort order.
    pub const ALL: [Hive; 5] = [
        Hive::LocalMachine,
        Hive::CurrentUser,
        Hive::ClassesRoot,
        Hive::Users,
        Hive::CurrentConfig,
    ];

    /// The long name, e.g. `HKEY_LOCAL_MACHINE`.
    pub fn long_name(self) -> &'static str {
        match self {
            Hive::LocalMachine => "HKEY_LOCAL_MACHINE",
            Hive::CurrentUser => "HKEY_CURRENT_USER",
            Hive::ClassesRoot => "HKEY_CLASSES_ROOT",
            Hive::Users => "HKEY_USERS",
            Hive::CurrentConfig => "HKEY_CURRENT_CONFIG",
        }
    }

    /// The short name, e.g. `HKLM`.
    pub fn short_name(self) -> &'static str {
        match self {
            Hive::LocalMachine => "HKLM",
            Hive::CurrentUser => "HKCU",
            Hive::ClassesRoot => "HKCR",
            Hive::Users => "HKU",
            Hive::CurrentConfig => "HKCC",
        }
    }

    /// The hive with this long or short name (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Option<Hive> {
        Hive::ALL.into_iter().find(|hive| {
            name.eq_ignore_ascii_case(hive.long_name())
                || name.eq_ignore_ascii_case(hive.short_name())
        })
    }
}

impl fmt::Display for Hive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.long_name())
    }
}

/// Why a key path, key name or value name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyPathError {
    /// The path is the empty string.
    #[error("registry path is empty")]
    Empty,
    /// The first component is not a hive name.
    #[error("unknown registry hive {} in {}", quoted(.hive), quoted(.path))]
    UnknownHive {
        /// The whole input.
        path: String,
        /// The first component.
        hive: String,
    },
    /// The path contains `/`.
    #[error("registry path {} contains '/'; only '\\' separates keys", quoted(.path))]
    ForwardSlash {
        /// The whole input.
        path: String,
    },
    /// A leading, trailing or doubled `\` makes an empty component.
    #[error("registry path {} has an empty component (leading, trailing or doubled '\\')", quoted(.path))]
    EmptyComponent {
        /// The whole input.
        path: String,
    },
    /// A `.` or `..` component.
    #[error("registry path {} has a {} component", quoted(.path), quoted(.component))]
    DotComponent {
        /// The whole input.
        path: String,
        /// The offending component.
        component: String,
    },
    /// A control character (NUL included).
    #[error("registry path {} contains a control character", quoted(.path))]
    ControlCharacter {
        /// The whole input.
        path: String,
    },
    /// A component ends in whitespace or `.`, which makes look-alike keys.
    #[error("registry path {} has component {} ending in whitespace or '.'", quoted(.path), quoted(.component))]
    TrailingSpaceOrDot {
        /// The whole input.
        path: String,
        /// The offending component.
        component: String,
    },
    /// An NT or Win32 device prefix such as `\\?\`.
    #[error("registry path {} starts with a device prefix; use HIVE\\Key", quoted(.path))]
    DevicePrefix {
        /// The whole input.
        path: String,
    },
    /// A component is longer than 255 UTF-16 units.
    #[error("registry path {} has a component of {units} UTF-16 units (at most 255)", quoted(.path))]
    ComponentTooLong {
        /// The whole input.
        path: String,
        /// The component's length in UTF-16 units.
        units: usize,
    },
    /// The path is longer than 32767 UTF-16 units.
    #[error("registry path {} is {units} UTF-16 units long (at most 32767)", quoted(.path))]
    PathTooLong {
        /// The whole input.
        path: String,
        /// The path's length in UTF-16 units (long hive name).
        units: usize,
    },
    /// More than 512 components below the hive.
    #[error("registry path {} is {depth} keys deep (at most 512)", quoted(.path))]
    TooDeep {
        /// The whole input.
        path: String,
        /// Components below the hive.
        depth: usize,
    },
    /// [`RegistryPath::join`] was given more than one component.
    #[error("key name {} contains '\\'; join one component at a time", quoted(.name))]
    NotOneComponent {
        /// The name given.
        name: String,
    },
    /// A value name contains NUL.
    #[error("value name {} contains NUL", quoted(.name))]
    ValueNameNul {
        /// The name given.
        name: String,
    },
    /// A value name is longer than 16383 UTF-16 units.
    #[error("value name {} is {units} UTF-16 units long (at most 16383)", quoted(.name))]
    ValueNameTooLong {
        /// The name given.
        name: String,
        /// Its length in UTF-16 units.
        units: usize,
    },
}

/// A canonical registry key path: a hive and zero or more validated components.
///
/// The original case is kept for display and for the Windows API; equality, hashing, ordering
/// and [`starts_with`](Self::starts_with) are case-insensitive (see the module docs for the
/// exact folding). Ordering is by hive, then component by component, so a parent sorts
/// immediately before its subtree.
#[derive(Clone)]
pub struct RegistryPath {
    hive: Hive,
    components: Vec<String>,
    /// Folded components joined by [`FOLD_SEP`]; precomputed so comparisons do not allocate.
    folded: String,
    /// Length of the long form in UTF-16 units, kept so `join` checks the limit in O(1).
    units: usize,
}

impl RegistryPath {
    /// The root key of a hive.
    pub fn hive_root(hive: Hive) -> RegistryPath {
        RegistryPath {
            hive,
            components: Vec::new(),
            folded: String::new(),
            units: hive.long_name().len(),
        }
    }

    /// Parses and validates a key path (see the module docs for the rules).
    pub fn parse(s: &str) -> Result<RegistryPath, KeyPathError> {
        if s.is_empty() {
            return Err(KeyPathError::Empty);
        }
        // `\\?\`, `\\.\` and `\??\` name NT object paths; report them as such rather than as
        // an empty component so the error says what was tried.
        if s.starts_with(r"\\?\") || s.starts_with(r"\\.\") || s.starts_with(r"\??\") {
            return Err(KeyPathError::DevicePrefix { path: s.to_owned() });
        }
        if s.contains('/') {
            return Err(KeyPathError::ForwardSlash { path: s.to_owned() });
        }
        if s.chars().any(char::is_control) {
            return Err(KeyPathError::ControlCharacter { path: s.to_owned() });
        }
        let mut parts = s.split('\\');
        let hive_name = parts.next().unwrap_or_default();
        if hive_name.is_empty() {
            return Err(KeyPathError::EmptyComponent { path: s.to_owned() });
        }
        let hive = Hive::from_name(hive_name).ok_or_else(|| KeyPathError::UnknownHive {
            path: s.to_owned(),
            hive: hive_name.to_owned(),
        })?;
        let mut path = RegistryPath::hive_root(hive);
        // Sized once up front: every capability call parses its key, and growing these two
        // buffers component by component would be the largest cost of a registry call.
        path.folded.reserve(s.len().saturating_sub(hive_name.len()));
        path.components
            .reserve(s.bytes().filter(|&b| b == b'\\').count());
        for part in parts {
            path.push(part, s)?;
        }
        Ok(path)
    }

    /// The hive.
    pub fn hive(&self) -> Hive {
        self.hive
    }

    /// The components below the hive, in their original case.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// Whether this is a hive's root key (no components).
    pub fn is_hive_root(&self) -> bool {
        self.components.is_empty()
    }

    /// The last component, or `None` for a hive root.
    pub fn name(&self) -> Option<&str> {
        self.components.last().map(String::as_str)
    }

    /// Whether `prefix` is this path or one of its ancestors, compared component by component
    /// and case-insensitively: `HKLM\SOFTWARE\PoliciesX` does not start with
    /// `HKLM\SOFTWARE\Policies`.
    pub fn starts_with(&self, prefix: &RegistryPath) -> bool {
        if self.hive != prefix.hive || !self.folded.starts_with(prefix.folded.as_str()) {
            return false;
        }
        prefix.folded.is_empty()
            || self.folded.len() == prefix.folded.len()
            || self.folded[prefix.folded.len()..].starts_with(FOLD_SEP)
    }

    /// This path with one more component, validated like a component of [`parse`](Self::parse).
    pub fn join(&self, name: &str) -> Result<RegistryPath, KeyPathError> {
        if name.contains('\\') {
            return Err(KeyPathError::NotOneComponent {
                name: name.to_owned(),
            });
        }
        if name.contains('/') {
            return Err(KeyPathError::ForwardSlash {
                path: name.to_owned(),
            });
        }
        if name.chars().any(char::is_control) {
            return Err(KeyPathError::ControlCharacter {
                path: name.to_owned(),
            });
        }
        let mut path = self.clone();
        path.push(name, name)?;
        Ok(path)
    }

    /// The parent key, or `None` for a hive root.
    pub fn parent(&self) -> Option<RegistryPath> {
        let mut parent = self.clone();
        let last = parent.components.pop()?;
        parent.units -= 1 + utf16_len(&last);
        let cut = parent.folded.rfind(FOLD_SEP).unwrap_or(0);
        parent.folded.truncate(cut);
        Some(parent)
    }

    /// The long form (`HKEY_LOCAL_MACHINE\SOFTWARE\...`), as `Display` writes it, built in one
    /// allocation of the exact size: run journals record it for every change.
    pub fn long_form(&self) -> String {
        let bytes = self.long_pieces().map(str::len).sum();
        let mut long = String::with_capacity(bytes);
        long.extend(self.long_pieces());
        long
    }

    /// The pieces of the long form, in order: the hive's long name, then `\` and a component
    /// for each component. `Display` writes them; [`Self::long_form`] joins them.
    fn long_pieces(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.hive.long_name()).chain(
            self.components
                .iter()
                .flat_map(|component| ["\\", component.as_str()]),
        )
    }

    /// The components joined with `\`, without the hive: the subkey argument of the Windows
    /// registry API relative to the hive's root key. Empty for a hive root.
    pub fn subkey_path(&self) -> String {
        self.components.join("\\")
    }

    /// The folded components joined by the separator: what identifies the key within its
    /// hive (empty for a hive root).
    pub(crate) fn folded_path(&self) -> &str {
        &self.folded
    }

    /// The folded paths of the key's ancestors below the hive root, then of the key itself,
    /// shortest first (nothing for a hive root).
    pub(crate) fn folded_prefixes(&self) -> impl Iterator<Item = &str> {
        let folded = self.folded.as_str();
        folded
            .match_indices(FOLD_SEP)
            .map(move |(end, _)| &folded[..end])
            .chain((!self.components.is_empty()).then_some(folded))
    }

    /// The case-folded components, for case-insensitive maps keyed by component.
    pub(crate) fn folded_components(&self) -> impl Iterator<Item = &str> {
        // `split` on an empty string yields one empty item; a hive root has no components.
        let take = self.components.len();
        self.folded.split(FOLD_SEP).take(take)
    }

    /// Appends a component after validating it; `input` is what errors quote.
    fn push(&mut self, component: &str, input: &str) -> Result<(), KeyPathError> {
        validate_component(component, input)?;
        let depth = self.components.len() + 1;
        if depth > MAX_DEPTH {
            return Err(KeyPathError::TooDeep {
                path: input.to_owned(),
                depth,
            });
        }
        let units = self.units + 1 + utf16_len(component);
        if units > MAX_PATH_UNITS {
            return Err(KeyPathError::PathTooLong {
                path: input.to_owned(),
                units,
            });
        }
        if !self.components.is_empty() {
            self.folded.push(FOLD_SEP);
        }
        push_folded(&mut self.folded, component);
        self.components.push(component.to_owned());
        self.units = units;
        Ok(())
    }
}

/// Checks one component; control characters and separators were checked by the caller.
fn validate_component(component: &str, input: &str) -> Result<(), KeyPathError> {
    if component.is_empty() {
        return Err(KeyPathError::EmptyComponent {
            path: input.to_owned(),
        });
    }
    if component == "." || component == ".." {
        return Err(KeyPathError::DotComponent {
            path: input.to_owned(),
            component: component.to_owned(),
        });
    }
    if component.ends_with(|c: char| c.is_whitespace() || c == '.') {
        return Err(KeyPathError::TrailingSpaceOrDot {
            path: input.to_owned(),
            component: component.to_owned(),
        });
    }
    let units = utf16_len(component);
    if units > MAX_COMPONENT_UNITS {
        return Err(KeyPathError::ComponentTooLong {
            path: input.to_owned(),
            units,
        });
    }
    Ok(())
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Folds one character for case-insensitive comparison (see the module docs).
pub(crate) fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) if !u.is_ascii() => u,
        _ => c,
    }
}

/// Folds a whole name (a key component or a value name) for case-insensitive maps.
pub(crate) fn fold(s: &str) -> String {
    let mut folded = String::with_capacity(s.len());
    push_folded(&mut folded, s);
    folded
}

/// Appends `s` folded to `out`. Almost every name is ASCII: copied and upper-cased in place,
/// rather than folded and pushed one character at a time.
fn push_folded(out: &mut String, s: &str) {
    if s.is_ascii() {
        let start = out.len();
        out.push_str(s);
        out[start..].make_ascii_uppercase();
    } else {
        out.extend(s.chars().map(fold_char));
    }
}

/// Whether two value names are the same name to the registry (case-insensitive, with the same
/// folding as key paths).
pub fn value_name_eq(a: &str, b: &str) -> bool {
    a.chars().map(fold_char).eq(b.chars().map(fold_char))
}

/// Checks a value name: no NUL and at most 16383 UTF-16 units. The empty name is the key's
/// default value and is valid.
pub fn validate_value_name(name: &str) -> Result<(), KeyPathError> {
    if name.contains('\0') {
        return Err(KeyPathError::ValueNameNul {
            name: name.to_owned(),
        });
    }
    // A UTF-8 string never has more UTF-16 units than bytes: most names need no count.
    if name.len() <= MAX_VALUE_NAME_UNITS {
        return Ok(());
    }
    let units = utf16_len(name);
    if units > MAX_VALUE_NAME_UNITS {
        return Err(KeyPathError::ValueNameTooLong {
            name: name.to_owned(),
            units,
        });
    }
    Ok(())
}

impl PartialEq for RegistryPath {
    fn eq(&self, other: &Self) -> bool {
        self.hive == other.hive && self.folded == other.folded
    }
}

impl Eq for RegistryPath {}

impl Hash for RegistryPath {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.hive.hash(state);
        self.folded.hash(state);
    }
}

impl PartialOrd for RegistryPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RegistryPath {
    fn cmp(&self, other: &Self) -> Ordering {
        self.hive
            .cmp(&other.hive)
            .then_with(|| self.folded.cmp(&other.folded))
    }
}

impl fmt::Display for RegistryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.long_pieces().try_for_each(|piece| f.write_str(piece))
    }
}

impl fmt::Debug for RegistryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RegistryPath")
            .field(&self.to_string())
            .finish()
    }
}

impl FromStr for RegistryPath {
    type Err = KeyPathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegistryPath::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RegistryPath {
        RegistryPath::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> KeyPathError {
        RegistryPath::parse(s).expect_err(s)
    }

    #[test]
    fn hive_names() {
        for hive in Hive::ALL {
            assert_eq!(Hive::from_name(hive.long_name()), Some(hive));
            assert_eq!(Hive::from_name(hive.short_name()), Some(hive));
            assert_eq!(
                Hive::from_name(&hive.short_name().to_lowercase()),
                Some(hive)
            );
            assert_eq!(p(hive.short_name()).to_string(), hive.long_name());
            assert_eq!(p(hive.short_name()).long_form(), hive.long_name());
        }
        assert_eq!(Hive::from_name("HKEY_LOCAL_MACHINEX"), None);
        assert_eq!(Hive::from_name("HKLM "), None);
    }

    #[test]
    fn short_and_long_and_case_are_equal() {
        let a = p(r"HKLM\SOFTWARE\Policies\Microsoft");
        let b = p(r"hkey_local_machine\software\POLICIES\microsoft");
        assert_eq!(a, b);
        assert_eq!(a.cmp(&b), Ordering::Equal);
        let hash = |x: &RegistryPath| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            x.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&b));
        // Display keeps the original case with the long hive name.
        assert_eq!(
            b.to_string(),
            r"HKEY_LOCAL_MACHINE\software\POLICIES\microsoft"
        );
        assert_eq!(b.long_form(), b.to_string());
        assert_eq!(a.subkey_path(), r"SOFTWARE\Policies\Microsoft");
        assert_ne!(p(r"HKLM\A"), p(r"HKCU\A"));
    }

    #[test]
    fn bare_hive() {
        let root = p("hkcu");
        assert!(root.is_hive_root());
        assert_eq!(root.subkey_path(), "");
        assert_eq!(root.parent(), None);
        assert_eq!(root.name(), None);
        assert_eq!(root, RegistryPath::hive_root(Hive::CurrentUser));
    }

    #[test]
    fn rejects_tricks() {
        assert_eq!(err(""), KeyPathError::Empty);
        assert!(matches!(err("HKXX\\A"), KeyPathError::UnknownHive { .. }));
        assert!(matches!(
            err("SOFTWARE\\A"),
            KeyPathError::UnknownHive { .. }
        ));
        assert!(matches!(
            err("HKLM/SOFTWARE"),
            KeyPathError::ForwardSlash { .. }
        ));
        assert!(matches!(
            err(r"HKLM\A/B"),
            KeyPathError::ForwardSlash { .. }
        ));
        for empty in [
            r"HKLM\A\\B",
            r"HKLM\",
            r"HKLM\A\",
            r"\HKLM\A",
            r"HKLM\\",
            "\\",
        ] {
            assert!(
                matches!(err(empty), KeyPathError::EmptyComponent { .. }),
                "{empty}"
            );
        }
        for dots in [r"HKLM\A\..\B", r"HKLM\..", r"HKLM\.\A", r"HKLM\A\."] {
            assert!(
                matches!(err(dots), KeyPathError::DotComponent { .. }),
                "{dots}"
            );
        }
        for control in [
            "HKLM\\A\0B",
            "HKLM\\A\0",
            "HKLM\\A\nB",
            "HKLM\\A\u{7f}",
            "HKLM\\\u{85}",
        ] {
            assert!(
                matches!(err(control), KeyPathError::ControlCharacter { .. }),
                "{control:?}"
            );
        }
        for trailing in [
            r"HKLM\A ",
            r"HKLM\A.\B",
            r"HKLM\...",
            r"HKLM\A\B  ",
            "HKLM\\A\u{3000}",
        ] {
            assert!(
                matches!(err(trailing), KeyPathError::TrailingSpaceOrDot { .. }),
                "{trailing}"
            );
        }
        for prefix in [r"\\?\HKLM\A", r"\??\HKLM\A", r"\\.\HKLM"] {
            assert!(
                matches!(err(prefix), KeyPathError::DevicePrefix { .. }),
                "{prefix}"
            );
        }
        // NT-style registry paths are not hive paths.
        assert!(matches!(
            err(r"\Registry\Machine\SOFTWARE"),
            KeyPathError::EmptyComponent { .. }
        ));
        // Leading spaces are a different key to Windows too, but not a look-alike of a
        // *trailing* trick; the hive itself must match exactly.
        assert!(matches!(err(r" HKLM\A"), KeyPathError::UnknownHive { .. }));
    }

    /// Case folding is one character to one character, uppercase, like the registry's own
    /// (RtlUpcaseUnicodeChar): letters with a simple uppercase match it; expansions (ß → SS),
    /// compatibility look-alikes (Kelvin sign, fullwidth letters) and non-ASCII characters
    /// whose uppercase is ASCII (dotless ı) stay distinct keys. What matters for grants: two
    /// spellings are the same key here only if they are the same key to Windows.
    #[test]
    fn unicode_case_folding_tricks() {
        assert_eq!(p(r"HKLM\Ärger\Ωmega"), p(r"hklm\ärger\ωMEGA"));
        assert_eq!(p(r"HKLM\ǅ"), p(r"HKLM\Ǆ"), "titlecase folds to uppercase");
        for (a, b) in [
            (r"HKLM\Straße", r"HKLM\STRASSE"),
            ("HKLM\\\u{212A}ey", r"HKLM\Key"),
            (r"HKLM\Wındows", r"HKLM\Windows"),
            (r"HKLM\Ｗindows", r"HKLM\Windows"),
            ("HKLM\\\u{200B}Windows", r"HKLM\Windows"),
            ("HKLM\\Wi\u{301}ndows", r"HKLM\Windows"),
        ] {
            assert_ne!(p(a), p(b), "{a:?} vs {b:?}");
            assert!(!p(a).starts_with(&p(b)), "{a:?} under {b:?}");
        }
        // A trailing non-breaking or ideographic space is still a trailing-space trick.
        for trailing in ["HKLM\\Windows\u{a0}", "HKLM\\Windows\u{2003}"] {
            assert!(
                matches!(err(trailing), KeyPathError::TrailingSpaceOrDot { .. }),
                "{trailing:?}"
            );
        }
    }

    #[test]
    fn every_hive_alias_is_one_hive() {
        for hive in Hive::ALL {
            let long = p(&format!("{}\\A", hive.long_name()));
            let short = p(&format!("{}\\a", hive.short_name().to_lowercase()));
            assert_eq!(long, short);
            assert_eq!(long.hive(), hive);
        }
        assert_ne!(p(r"HKLM\A"), p(r"HKCU\A"));
    }

    #[test]
    fn error_messages_quote_the_input() {
        let e = err(r"HKLM\A\..\B").to_string();
        assert!(e.contains(r"'HKLM\A\..\B'") && e.contains("'..'"), "{e}");
        let e = err("HKLM\\A\0").to_string();
        assert!(e.contains(r"'HKLM\A\u{0}'"), "{e}");
        assert!(err("HKQQ").to_string().contains("'HKQQ'"));
    }

    #[test]
    fn length_limits() {
        let ok = format!("HKLM\\{}", "a".repeat(255));
        p(&ok);
        let long = format!("HKLM\\{}", "a".repeat(256));
        assert!(matches!(
            err(&long),
            KeyPathError::ComponentTooLong { units: 256, .. }
        ));
        // Surrogate pairs count as two UTF-16 units, as in the registry.
        let emoji = format!("HKLM\\{}", "😀".repeat(128));
        assert!(matches!(
            err(&emoji),
            KeyPathError::ComponentTooLong { units: 256, .. }
        ));
        let deep_ok = format!("HKLM{}", "\\a".repeat(512));
        assert_eq!(p(&deep_ok).components().len(), 512);
        let deep = format!("HKLM{}", "\\a".repeat(513));
        assert!(matches!(
            err(&deep),
            KeyPathError::TooDeep { depth: 513, .. }
        ));
        // 200 components of 200 units exceed 32767 units before the depth limit.
        let component = "b".repeat(200);
        let huge = format!("HKLM{}", format!("\\{component}").repeat(200));
        assert!(matches!(err(&huge), KeyPathError::PathTooLong { .. }));
        // The limit is measured on the long form, so both spellings agree.
        let mut path = p("HKLM");
        let mut failed = None;
        for i in 0..400 {
            match path.join(&component) {
                Ok(next) => path = next,
                Err(e) => {
                    failed = Some((i, e));
                    break;
                }
            }
        }
        let (i, e) = failed.expect("join must hit the length limit");
        assert!(matches!(e, KeyPathError::PathTooLong { .. }));
        let total = path.to_string().encode_utf16().count();
        assert!(
            total <= MAX_PATH_UNITS && total + 201 > MAX_PATH_UNITS,
            "{i} {total}"
        );
        assert_eq!(p(&path.to_string()), path);
    }

    #[test]
    fn starts_with_is_component_wise() {
        let policies = p(r"HKLM\SOFTWARE\Policies");
        assert!(p(r"HKLM\SOFTWARE\Policies").starts_with(&policies));
        assert!(p(r"hklm\software\policies\Microsoft").starts_with(&policies));
        assert!(!p(r"HKLM\SOFTWARE\PoliciesX").starts_with(&policies));
        assert!(!p(r"HKLM\SOFTWARE\PoliciesX\Microsoft").starts_with(&policies));
        assert!(!p(r"HKLM\SOFTWARE\Policie").starts_with(&policies));
        assert!(!p(r"HKLM\SOFTWARE").starts_with(&policies));
        assert!(!p(r"HKCU\SOFTWARE\Policies").starts_with(&policies));
        assert!(p(r"HKLM\SOFTWARE\Policies\X").starts_with(&p("HKEY_LOCAL_MACHINE")));
        assert!(!p(r"HKCU\SOFTWARE").starts_with(&p("HKLM")));
    }

    #[test]
    fn folding_never_maps_non_ascii_to_ascii_or_expands() {
        // Long s and dotless i uppercase to ASCII in Unicode; Windows may treat them as
        // distinct, so a grant on `Policies` must not cover `Policieſ`.
        assert_ne!(p(r"HKLM\Policieſ"), p(r"HKLM\POLICIES"));
        assert!(!p(r"HKLM\Policieſ\X").starts_with(&p(r"HKLM\Policies")));
        assert_ne!(p(r"HKLM\ı"), p(r"HKLM\I"));
        // Multi-character uppercase stays distinct.
        assert_ne!(p(r"HKLM\straße"), p(r"HKLM\STRASSE"));
        assert_eq!(p(r"HKLM\straße"), p(r"HKLM\STRAßE"));
        // One-to-one non-ASCII mappings fold.
        assert_eq!(p(r"HKLM\Ärger\éa"), p(r"HKLM\äRGER\ÉA"));
        // The Kelvin sign is not the letter K.
        assert_ne!(p("HKLM\\\u{212a}"), p(r"HKLM\K"));
    }

    #[test]
    fn ordering_puts_parents_before_subtrees() {
        let mut paths = [
            p(r"HKLM\A B"),
            p(r"HKLM\a\c"),
            p(r"HKCU\Z"),
            p(r"HKLM\A"),
            p(r"HKLM\A\B"),
            p("HKLM"),
        ];
        paths.sort();
        let shown: Vec<String> = paths.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "HKEY_LOCAL_MACHINE",
                r"HKEY_LOCAL_MACHINE\A",
                r"HKEY_LOCAL_MACHINE\A\B",
                r"HKEY_LOCAL_MACHINE\a\c",
                r"HKEY_LOCAL_MACHINE\A B",
                r"HKEY_CURRENT_USER\Z",
            ]
        );
    }

    #[test]
    fn join_and_parent() {
        let base = p(r"HKLM\SOFTWARE");
        let joined = base.join("Policies").unwrap();
        assert_eq!(joined, p(r"HKLM\software\policies"));
        assert_eq!(joined.parent(), Some(base.clone()));
        assert_eq!(joined.parent().unwrap().parent(), Some(p("HKLM")));
        assert!(joined.starts_with(&base));
        assert!(matches!(
            base.join(r"A\B"),
            Err(KeyPathError::NotOneComponent { .. })
        ));
        assert!(matches!(
            base.join(".."),
            Err(KeyPathError::DotComponent { .. })
        ));
        assert!(matches!(
            base.join(""),
            Err(KeyPathError::EmptyComponent { .. })
        ));
        assert!(matches!(
            base.join("a/b"),
            Err(KeyPathError::ForwardSlash { .. })
        ));
        assert!(matches!(
            base.join("a\0"),
            Err(KeyPathError::ControlCharacter { .. })
        ));
        assert!(matches!(
            base.join("a."),
            Err(KeyPathError::TrailingSpaceOrDot { .. })
        ));
        // A parent computed by truncation equals the parsed one, folded form included.
        let deep = p(r"HKLM\Ab\Cd\Ef");
        let up = deep.parent().unwrap();
        assert_eq!(up.folded_components().collect::<Vec<_>>(), ["AB", "CD"]);
        assert_eq!(p("HKLM").folded_components().count(), 0);
    }

    #[test]
    fn value_names() {
        assert!(value_name_eq(
            "DisableRealtimeMonitoring",
            "disablerealtimemonitoring"
        ));
        assert!(!value_name_eq("a", "ab"));
        assert!(!value_name_eq("ſ", "S"));
        assert!(validate_value_name("").is_ok());
        assert!(validate_value_name("with space. ").is_ok());
        assert!(matches!(
            validate_value_name("a\0"),
            Err(KeyPathError::ValueNameNul { .. })
        ));
        assert!(validate_value_name(&"v".repeat(16383)).is_ok());
        assert!(matches!(
            validate_value_name(&"v".repeat(16384)),
            Err(KeyPathError::ValueNameTooLong { units: 16384, .. })
        ));
    }
}
