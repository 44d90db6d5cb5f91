//! JSON paths for error messages, such as `settings[3].settingInstance.choiceSettingValue`.
//!
//! A path is a chain of borrowed segments on the parser's stack, so walking a document costs no
//! allocation; the text is built only when an error is reported.

use std::fmt;

/// Where a value sits in a JSON document, relative to the object being parsed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JsonPath<'a> {
    /// The object itself (rendered as nothing: errors then name only the problem).
    Root,
    /// A member of an object.
    Key(&'a JsonPath<'a>, &'a str),
    /// An element of an array.
    Index(&'a JsonPath<'a>, usize),
}

impl<'a> JsonPath<'a> {
    /// The path of member `key` below this one.
    pub(crate) fn key(&'a self, key: &'a str) -> JsonPath<'a> {
        JsonPath::Key(self, key)
    }

    /// The path of element `index` below this one.
    pub(crate) fn index(&'a self, index: usize) -> JsonPath<'a> {
        JsonPath::Index(self, index)
    }
}

impl fmt::Display for JsonPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonPath::Root => Ok(()),
            JsonPath::Key(JsonPath::Root, key) => f.write_str(key),
            JsonPath::Key(parent, key) => write!(f, "{parent}.{key}"),
            JsonPath::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::JsonPath;

    #[test]
    fn renders_dotted_keys_and_indices() {
        let root = JsonPath::Root;
        let settings = root.key("settings");
        let third = settings.index(3);
        let instance = third.key("settingInstance");
        assert_eq!(instance.to_string(), "settings[3].settingInstance");
        assert_eq!(root.to_string(), "");
        assert_eq!(root.index(0).to_string(), "[0]");
    }
}
