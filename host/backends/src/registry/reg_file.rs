//! The `.reg` text format of `regedit` and `reg export`: parsing and writing.
//!
//! This is how registry state enters and leaves rampart outside Windows (fixtures, what-if
//! runs, the emulated registry's persistence) and how an administrator reads it, so the writer
//! produces what regedit produces and the parser accepts what regedit and Wine's `reg export`
//! write:
//!
//! - header `Windows Registry Editor Version 5.00` (or `REGEDIT4`, whose `hex(1)`, `hex(2)` and
//!   `hex(7)` data are 8-bit; only ASCII is accepted there since the code page is unknown);
//! - `[KEY]` creates a key, `[-KEY]` deletes it with its subtree;
//! - `"name"=...` or `@=...` (the default value) with `"string"` (escapes `\\`, `\"`, and, as
//!   Wine writes them, `\n` and `\r`), `dword:0000001f`, `hex:` (REG_BINARY), `hex(b):` (QWORD,
//!   8 bytes little-endian), `hex(2):` (EXPAND_SZ), `hex(7):` (MULTI_SZ), `hex(1):` (SZ),
//!   `hex(4):` (DWORD) and `-` (delete the value);
//! - `hex` data continued over lines with a trailing `\`, the next line's leading whitespace
//!   ignored; `;` comment lines; blank lines; LF or CRLF line ends.
//!
//! The writer uses LF line ends (rampart's own text output; [`encode_reg_utf16`] gives the
//! UTF-16LE/CRLF bytes regedit writes) and wraps `hex` lines at 80 columns exactly as regedit
//! does. `parse_reg(&write_reg(keys))` yields one [`RegEntry::CreateKey`] per key followed by
//! its values, in the writer's sorted order.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::RegValue;
use super::path::{KeyPathError, RegistryPath, fold, validate_value_name};
use super::raw::{self, RawError};
use crate::quote::quoted;

const HEADER_V5: &str = "Windows Registry Editor Version 5.00";
const HEADER_V4: &str = "REGEDIT4";
/// regedit breaks a `hex` line once it reaches this many columns (the `\` makes 78 at most).
const HEX_WRAP_COLUMNS: usize = 77;

/// One statement of a `.reg` file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegEntry {
    /// `[KEY]`: create the key (and its parents) if missing.
    CreateKey(RegistryPath),
    /// `[-KEY]`: delete the key and its subtree.
    DeleteKey(RegistryPath),
    /// `"name"=data` under the current key (`@` is the empty name).
    SetValue {
        /// The key the value belongs to.
        key: RegistryPath,
        /// The value name; empty for the default value.
        name: String,
        /// The value.
        value: RegValue,
    },
    /// `"name"=-` under the current key.
    DeleteValue {
        /// The key the value belongs to.
        key: RegistryPath,
        /// The value name; empty for the default value.
        name: String,
    },
}

/// One key and its values, as a `[KEY]` section of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegKey {
    /// The key.
    pub path: RegistryPath,
    /// Its values (any order; the writer sorts them).
    pub values: Vec<(String, RegValue)>,
}

/// Why `.reg` text could not be decoded, parsed, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegFileError {
    /// The bytes are not UTF-16LE with a byte-order mark or UTF-8.
    #[error("invalid .reg file encoding: {reason}")]
    Encoding {
        /// What was wrong.
        reason: String,
    },
    /// The first line is not a known header.
    #[error("line 1: expected 'Windows Registry Editor Version 5.00' or 'REGEDIT4', found {}", quoted(.found))]
    MissingHeader {
        /// The first line.
        found: String,
    },
    /// A line does not have the expected shape.
    #[error("line {line}: expected {expected}, found {}", quoted(.found))]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What the parser expected.
        expected: &'static str,
        /// The offending text.
        found: String,
    },
    /// A `hex(N):` type rampart does not support (e.g. `hex(0):`, REG_NONE).
    #[error("line {line}: unsupported value type {}", quoted(.ty))]
    UnsupportedType {
        /// 1-based line number.
        line: usize,
        /// The type as written, e.g. `hex(0)`.
        ty: String,
    },
    /// A key path in `[...]` is not a valid canonical path.
    #[error("line {line}: invalid key: {source}")]
    InvalidKey {
        /// 1-based line number.
        line: usize,
        /// Why the path was rejected.
        #[source]
        source: KeyPathError,
    },
    /// A value name is invalid.
    #[error("line {line}: invalid value name: {source}")]
    InvalidValueName {
        /// 1-based line number.
        line: usize,
        /// Why the name was rejected.
        #[source]
        source: KeyPathError,
    },
    /// Value data does not decode to a value of its type.
    #[error("line {line}: invalid value data: {reason}")]
    InvalidData {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// A value line before any `[KEY]` line or under a `[-KEY]` line.
    #[error("line {line}: value line is not under a '[KEY]' line")]
    ValueOutsideKey {
        /// 1-based line number.
        line: usize,
    },
    /// Reading or writing a `.reg` file failed.
    #[error("cannot access .reg file '{}': {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Decodes a `.reg` file's bytes: UTF-16LE with a byte-order mark (what regedit and Wine's
/// `reg export` write) or UTF-8 with or without one.
pub fn decode_reg_bytes(bytes: &[u8]) -> Result<String, RegFileError> {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        if !rest.len().is_multiple_of(2) {
            return Err(RegFileError::Encoding {
                reason: format!("UTF-16LE text has an odd number of bytes ({})", bytes.len()),
            });
        }
        let units = rest
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
        let mut text = String::with_capacity(rest.len() / 2);
        for (i, c) in char::decode_utf16(units).enumerate() {
            match c {
                Ok(c) => text.push(c),
                Err(e) => {
                    return Err(RegFileError::Encoding {
                        reason: format!(
                            "unpaired UTF-16 surrogate {:#06x} at byte {}",
                            e.unpaired_surrogate(),
                            2 + 2 * i
                        ),
                    });
                }
            }
        }
        return Ok(text);
    }
    if bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(RegFileError::Encoding {
            reason: "UTF-16BE is not supported".into(),
        });
    }
    // UTF-16 without a byte-order mark decodes as "valid" UTF-8 full of NULs; say what it is.
    if bytes.len() >= 2 && bytes[0] != 0 && bytes[1] == 0 {
        return Err(RegFileError::Encoding {
            reason: "looks like UTF-16LE without a byte-order mark".into(),
        });
    }
    let (offset, rest) = match bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        Some(rest) => (3, rest),
        None => (0, bytes),
    };
    std::str::from_utf8(rest)
        .map(str::to_owned)
        .map_err(|e| RegFileError::Encoding {
            reason: format!("invalid UTF-8 at byte {}", offset + e.valid_up_to()),
        })
}

/// Encodes `.reg` text the way regedit writes files: UTF-16LE with a byte-order mark and CRLF
/// line ends (LF in `text` becomes CRLF; existing CRLF is kept).
pub fn encode_reg_utf16(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + text.len() * 2);
    out.extend_from_slice(&[0xFF, 0xFE]);
    let mut previous = '\0';
    for c in text.chars() {
        if c == '\n' && previous != '\r' {
            out.extend_from_slice(&[b'\r', 0]);
        }
        let mut buf = [0u16; 2];
        for unit in c.encode_utf16(&mut buf) {
            out.extend_from_slice(&unit.to_le_bytes());
        }
        previous = c;
    }
    out
}

/// Where value lines currently go.
enum Section {
    /// Before the first `[KEY]` line.
    None,
    /// Under `[KEY]`.
    Key(RegistryPath),
    /// Under `[-KEY]`: regedit ignores such values; rampart refuses them.
    Deleted,
}

/// Lines with 1-based numbers and CR stripped.
struct Lines<'a> {
    inner: std::iter::Enumerate<std::str::Split<'a, char>>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            inner: text.split('\n').enumerate(),
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let (i, line) = self.inner.next()?;
        Some((i + 1, line.strip_suffix('\r').unwrap_or(line)))
    }
}

/// Parses `.reg` text into its statements, in file order. Nothing is applied: a caller can
/// reject a whole file before touching any state.
pub fn parse_reg(text: &str) -> Result<Vec<RegEntry>, RegFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Lines::new(text);
    let header = lines
        .next()
        .map(|(_, line)| line.trim())
        .unwrap_or_default();
    let ansi = match header {
        HEADER_V5 => false,
        HEADER_V4 => true,
        other => {
            return Err(RegFileError::MissingHeader {
                found: other.to_owned(),
            });
        }
    };

    let mut entries = Vec::new();
    let mut section = Section::None;
    while let Some((line_no, raw_line)) = lines.next() {
        let line = raw_line.trim_start();
        if line.trim_end().is_empty() || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            let (entry, next) = parse_key_line(line.trim_end(), line_no)?;
            entries.push(entry);
            section = next;
            continue;
        }
        if !(line.starts_with('"') || line.starts_with('@')) {
            return Err(RegFileError::Syntax {
                line: line_no,
                expected: "a '[KEY]' line, a value line, a ';' comment or a blank line",
                found: line.to_owned(),
            });
        }
        let key = match &section {
            Section::Key(key) => key.clone(),
            Section::None | Section::Deleted => {
                return Err(RegFileError::ValueOutsideKey { line: line_no });
            }
        };
        let (name, rest) = match line.strip_prefix('@') {
            Some(rest) => (String::new(), rest),
            None => parse_quoted(line, line_no)?,
        };
        validate_value_name(&name).map_err(|source| RegFileError::InvalidValueName {
            line: line_no,
            source,
        })?;
        let data = rest
            .trim_start()
            .strip_prefix('=')
            .ok_or_else(|| RegFileError::Syntax {
                line: line_no,
                expected: "'=' after the value name",
                found: rest.to_owned(),
            })?;
        let data = data.trim_start();
        if data.trim_end() == "-" {
            entries.push(RegEntry::DeleteValue { key, name });
            continue;
        }
        let value = parse_data(data, line_no, &mut lines, ansi)?;
        if let Some(problem) = raw::value_problem(&value) {
            return Err(RegFileError::InvalidData {
                line: line_no,
                reason: problem.to_owned(),
            });
        }
        entries.push(RegEntry::SetValue { key, name, value });
    }
    Ok(entries)
}

fn parse_key_line(line: &str, line_no: usize) -> Result<(RegEntry, Section), RegFileError> {
    let inner = line
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .ok_or_else(|| RegFileError::Syntax {
            line: line_no,
            expected: "a key line ending in ']'",
            found: line.to_owned(),
        })?;
    let invalid = |source| RegFileError::InvalidKey {
        line: line_no,
        source,
    };
    if let Some(deleted) = inner.strip_prefix('-') {
        let path = RegistryPath::parse(deleted).map_err(invalid)?;
        // Deleting a whole hive is never what a policy file means.
        if path.is_hive_root() {
            return Err(RegFileError::Syntax {
                line: line_no,
                expected: "a key below a hive after '[-'",
                found: line.to_owned(),
            });
        }
        return Ok((RegEntry::DeleteKey(path), Section::Deleted));
    }
    let path = RegistryPath::parse(inner).map_err(invalid)?;
    Ok((RegEntry::CreateKey(path.clone()), Section::Key(path)))
}

/// Parses a `"..."` string at the start of `s`; returns it and the text after the closing quote.
fn parse_quoted(s: &str, line_no: usize) -> Result<(String, &str), RegFileError> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 'r')) => out.push('\r'),
                Some(_) => {
                    return Err(RegFileError::Syntax {
                        line: line_no,
                        expected: r#"an escape \\, \", \n or \r after '\' in a string"#,
                        found: s[i..].chars().take(2).collect(),
                    });
                }
                None => break,
            },
            _ => out.push(c),
        }
    }
    Err(RegFileError::Syntax {
        line: line_no,
        expected: "a closing '\"' on the same line",
        found: s.to_owned(),
    })
}

/// Parses the data after `=` (continuation lines are taken from `lines`).
fn parse_data(
    data: &str,
    line_no: usize,
    lines: &mut Lines<'_>,
    ansi: bool,
) -> Result<RegValue, RegFileError> {
    if data.starts_with('"') {
        let (s, after) = parse_quoted(data, line_no)?;
        if !after.trim().is_empty() {
            return Err(RegFileError::Syntax {
                line: line_no,
                expected: "the end of the line after the closing '\"'",
                found: after.to_owned(),
            });
        }
        return Ok(RegValue::Sz(s));
    }
    if let Some(digits) = strip_prefix_ascii_ci(data, "dword:") {
        let digits = digits.trim_end();
        return parse_hex_u32(digits, 8)
            .map(RegValue::Dword)
            .ok_or_else(|| RegFileError::Syntax {
                line: line_no,
                expected: "1 to 8 hex digits after 'dword:'",
                found: digits.to_owned(),
            });
    }
    if let Some(after_hex) = strip_prefix_ascii_ci(data, "hex") {
        return parse_hex_value(after_hex, line_no, lines, ansi);
    }
    Err(RegFileError::Syntax {
        line: line_no,
        expected: "a quoted string, 'dword:', 'hex:', 'hex(N):' or '-' after '='",
        found: data.to_owned(),
    })
}

fn parse_hex_value(
    after_hex: &str,
    line_no: usize,
    lines: &mut Lines<'_>,
    ansi: bool,
) -> Result<RegValue, RegFileError> {
    let type_error = || RegFileError::Syntax {
        line: line_no,
        expected: "'hex:' or 'hex(N):' with N a hex type number",
        found: format!("hex{after_hex}"),
    };
    let (code, label, first) = if let Some(rest) = after_hex.strip_prefix(':') {
        (raw::REG_BINARY, "hex".to_owned(), rest)
    } else {
        let inner = after_hex.strip_prefix('(').ok_or_else(type_error)?;
        let close = inner.find(')').ok_or_else(type_error)?;
        let code = parse_hex_u32(&inner[..close], 8).ok_or_else(type_error)?;
        let rest = inner[close + 1..]
            .strip_prefix(':')
            .ok_or_else(type_error)?;
        (code, format!("hex({})", &inner[..close]), rest)
    };

    // Join continuation lines: a trailing `\` continues on the next line, whose leading
    // whitespace is indentation.
    let mut text = first.trim_end().to_owned();
    let mut last_line = line_no;
    while text.ends_with('\\') {
        text.pop();
        let (n, next) = lines.next().ok_or_else(|| RegFileError::Syntax {
            line: last_line,
            expected: "a continuation line after the trailing '\\'",
            found: String::new(),
        })?;
        last_line = n;
        text.push_str(next.trim());
    }

    let mut bytes = Vec::with_capacity(text.len() / 3 + 1);
    let trimmed = text.trim();
    if !trimmed.is_empty() {
        let mut pieces = trimmed.split(',').map(str::trim).peekable();
        while let Some(piece) = pieces.next() {
            // Tolerate one trailing comma, which hand-written files often have.
            if piece.is_empty() && pieces.peek().is_none() {
                break;
            }
            let byte = parse_hex_u32(piece, 2).ok_or_else(|| RegFileError::Syntax {
                line: line_no,
                expected: "comma-separated bytes of 1 or 2 hex digits",
                found: piece.to_owned(),
            })?;
            // parse_hex_u32 with at most 2 digits cannot exceed 0xff.
            bytes.push(u8::try_from(byte).unwrap_or(u8::MAX));
        }
    }

    // REGEDIT4 stores string types in the ANSI code page, one byte per character.
    if ansi && matches!(code, raw::REG_SZ | raw::REG_EXPAND_SZ | raw::REG_MULTI_SZ) {
        if !bytes.is_ascii() {
            return Err(RegFileError::InvalidData {
                line: line_no,
                reason: format!("non-ASCII {label} data in a REGEDIT4 file (unknown code page)"),
            });
        }
        bytes = bytes.iter().flat_map(|&b| [b, 0]).collect();
    }

    raw::from_raw(code, &bytes).map_err(|e| match e {
        RawError::UnsupportedType(_) => RegFileError::UnsupportedType {
            line: line_no,
            ty: label,
        },
        other => RegFileError::InvalidData {
            line: line_no,
            reason: other.to_string(),
        },
    })
}

/// `s` without `prefix`, compared ASCII case-insensitively.
fn strip_prefix_ascii_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// 1 to `max_digits` hex digits and nothing else (`from_str_radix` alone would accept `+`).
fn parse_hex_u32(s: &str, max_digits: usize) -> Option<u32> {
    if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Writes `.reg` text: the version 5 header, a blank line, then one `[KEY]` section per key in
/// sorted order (parents before children), values sorted case-insensitively with `@` first,
/// each section followed by a blank line. Line ends are LF.
///
/// Values are written as regedit writes them: `"string"`, `dword:`, and `hex...:` for the
/// others, wrapped with `\` before column 80. A REG_SZ containing CR or LF is written as
/// `hex(1):` so it stays on its lines. Values should be valid registry values (strings without
/// NUL, no empty REG_MULTI_SZ elements), as every backend here stores them.
pub fn write_reg(keys: &[RegKey]) -> String {
    let mut sorted: Vec<&RegKey> = keys.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::new();
    out.push_str(HEADER_V5);
    out.push_str("\n\n");
    for key in sorted {
        let _ = writeln!(out, "[{}]", key.path);
        let mut values: Vec<&(String, RegValue)> = key.values.iter().collect();
        values.sort_by_cached_key(|(name, _)| fold(name));
        for (name, value) in values {
            write_value(&mut out, name, value);
        }
        out.push('\n');
    }
    out
}

fn write_value(out: &mut String, name: &str, value: &RegValue) {
    let start = out.len();
    if name.is_empty() {
        out.push('@');
    } else {
        out.push('"');
        push_escaped(out, name);
        out.push('"');
    }
    out.push('=');
    match value {
        RegValue::Sz(s) if !s.contains(['\r', '\n']) => {
            out.push('"');
            push_escaped(out, s);
            out.push_str("\"\n");
        }
        RegValue::Dword(v) => {
            let _ = writeln!(out, "dword:{v:08x}");
        }
        other => {
            let label = match other {
                RegValue::Binary(_) => "hex:".to_owned(),
                _ => format!("hex({:x}):", raw::type_code(other)),
            };
            let column = out[start..].chars().count();
            write_hex(out, column, &label, &raw::to_raw(other));
        }
    }
}

/// Writes `label` and comma-separated bytes, breaking lines the way regedit does.
fn write_hex(out: &mut String, column: usize, label: &str, bytes: &[u8]) {
    out.push_str(label);
    let mut column = column + label.len();
    for (i, byte) in bytes.iter().enumerate() {
        let _ = write!(out, "{byte:02x}");
        if i + 1 == bytes.len() {
            break;
        }
        out.push(',');
        column += 3;
        if column >= HEX_WRAP_COLUMNS {
            out.push_str("\\\n  ");
            column = 2;
        }
    }
    out.push('\n');
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RegistryPath {
        RegistryPath::parse(s).unwrap()
    }

    /// Every value type, awkward names and strings, an empty key, and a hive-root value.
    fn sample() -> Vec<RegKey> {
        vec![
            RegKey {
                path: p(r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender"),
                values: vec![
                    ("DisableAntiSpyware".into(), RegValue::Dword(0)),
                    ("".into(), RegValue::Sz("default".into())),
                    ("Big".into(), RegValue::Qword(0x0123_4567_89ab_cdef)),
                    (
                        "Path".into(),
                        RegValue::ExpandSz(r"%ProgramFiles%\Windows Defender".into()),
                    ),
                    (
                        "List".into(),
                        RegValue::MultiSz(vec!["C:\\a".into(), "ünï \"q\"".into(), "😀".into()]),
                    ),
                    ("EmptyList".into(), RegValue::MultiSz(vec![])),
                    ("EmptyString".into(), RegValue::Sz(String::new())),
                    ("EmptyExpand".into(), RegValue::ExpandSz(String::new())),
                    ("EmptyBinary".into(), RegValue::Binary(vec![])),
                    ("Blob".into(), RegValue::Binary((0..=255).collect())),
                    ("Max".into(), RegValue::Dword(u32::MAX)),
                ],
            },
            RegKey {
                path: p(r"HKCU\Software\Ünïcödé\Ключ"),
                values: vec![
                    (
                        "na\"me\\with \"quotes\"".into(),
                        RegValue::Sz("va\\l\"ue\\".into()),
                    ),
                    ("名前".into(), RegValue::Sz("値 ✓".into())),
                    ("multi\nline".into(), RegValue::Sz("line1\r\nline2".into())),
                    ("tab\t".into(), RegValue::Sz("a\tb".into())),
                    ("=;[]@".into(), RegValue::Sz("=;[]@".into())),
                ],
            },
            RegKey {
                path: p(r"HKLM\SOFTWARE\Empty Key"),
                values: vec![],
            },
            RegKey {
                path: p(r"HKCU\Software\Weird]Name[x"),
                values: vec![],
            },
            RegKey {
                path: p("HKCU"),
                values: vec![("RootValue".into(), RegValue::Dword(7))],
            },
        ]
    }

    /// What `parse_reg(write_reg(keys))` must return: keys and values in the writer's order.
    fn expected_entries(keys: &[RegKey]) -> Vec<RegEntry> {
        let mut keys = keys.to_vec();
        keys.sort_by(|a, b| a.path.cmp(&b.path));
        let mut entries = Vec::new();
        for key in keys {
            entries.push(RegEntry::CreateKey(key.path.clone()));
            let mut values = key.values.clone();
            values.sort_by_cached_key(|(name, _)| fold(name));
            for (name, value) in values {
                entries.push(RegEntry::SetValue {
                    key: key.path.clone(),
                    name,
                    value,
                });
            }
        }
        entries
    }

    #[test]
    fn round_trip() {
        let keys = sample();
        let text = write_reg(&keys);
        let parsed = parse_reg(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(parsed, expected_entries(&keys));
        // The same through regedit's UTF-16LE/CRLF encoding.
        let bytes = encode_reg_utf16(&text);
        assert_eq!(&bytes[..2], &[0xFF, 0xFE]);
        let decoded = decode_reg_bytes(&bytes).unwrap();
        assert!(decoded.contains("\r\n"));
        assert_eq!(parse_reg(&decoded).unwrap(), expected_entries(&keys));
    }

    #[test]
    fn writer_output_looks_like_regedit() {
        let text = write_reg(&sample());
        assert!(text.starts_with("Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\"));
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "{line}");
        }
        let section = text
            .split("\n\n")
            .find(|s| s.starts_with("[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies"))
            .unwrap();
        let mut lines = section.lines();
        lines.next();
        assert_eq!(lines.next(), Some("@=\"default\""));
        assert!(section.contains("\"DisableAntiSpyware\"=dword:00000000\n"));
        assert!(section.contains("\"Max\"=dword:ffffffff\n"));
        assert!(section.contains("\"Big\"=hex(b):ef,cd,ab,89,67,45,23,01\n"));
        assert!(section.contains("\"EmptyList\"=hex(7):00,00\n"));
        assert!(section.contains("\"EmptyBinary\"=hex:\n"));
        assert!(section.contains("\"EmptyString\"=\"\"\n"));
        assert!(section.contains("\"EmptyExpand\"=hex(2):00,00\n"));
        // regedit's wrapping: 22 bytes after `"Blob"=hex:`, then 25 per indented line.
        let blob: Vec<&str> = section
            .lines()
            .skip_while(|l| !l.starts_with("\"Blob\""))
            .collect();
        assert_eq!(blob[0].len(), 78);
        assert!(blob[0].ends_with("15,\\"));
        assert!(blob[1].starts_with("  16,17,"));
        assert_eq!(blob[1].len(), 78);
        // Parents before children, hives in HKLM, HKCU order.
        let order: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
        assert_eq!(
            order,
            [
                r"[HKEY_LOCAL_MACHINE\SOFTWARE\Empty Key]",
                r"[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows Defender]",
                "[HKEY_CURRENT_USER]",
                r"[HKEY_CURRENT_USER\Software\Weird]Name[x]",
                r"[HKEY_CURRENT_USER\Software\Ünïcödé\Ключ]",
            ]
        );
        // Escapes and the CR/LF string as hex(1).
        assert!(text.contains(r#""na\"me\\with \"quotes\""="va\\l\"ue\\""#));
        assert!(text.contains(r#""multi\nline"=hex(1):"#));
    }

    /// Bytes as Wine's `reg export` writes them: UTF-16LE, BOM, CRLF, wrapped hex, comments.
    #[test]
    fn parses_utf16le_crlf_file() {
        let text = "Windows Registry Editor Version 5.00\r\n\r\n\
            ; exported by a test\r\n\
            [HKEY_LOCAL_MACHINE\\Software\\Policies\\Microsoft\\Windows Defender\\Exclusions\\Paths]\r\n\
            \"C:\\\\Temp\"=dword:00000000\r\n\
            @=\"def\"\r\n\
            \"Multi\"=hex(7):61,00,00,00,62,00,\\\r\n\
            \x20\x2063,00,00,00,00,00\r\n\
            \"Exp\"=hex(2):25,00,54,00,4d,00,50,00,25,00,00,00\r\n\
            \"Q\"=hex(b):01,00,00,00,00,00,00,00\r\n\
            \"Bin\"=hex:de,ad,\\\r\n\
            \t  be,ef\r\n\
            \"Gone\"=-\r\n\
            \r\n\
            [-HKEY_CURRENT_USER\\Software\\Old]\r\n\
            \r\n";
        let bytes = encode_reg_utf16(text);
        let decoded = decode_reg_bytes(&bytes).unwrap();
        assert_eq!(decoded, text);
        let entries = parse_reg(&decoded).unwrap();
        let key = p(r"HKLM\Software\Policies\Microsoft\Windows Defender\Exclusions\Paths");
        let set = |name: &str, value| RegEntry::SetValue {
            key: key.clone(),
            name: name.into(),
            value,
        };
        assert_eq!(
            entries,
            vec![
                RegEntry::CreateKey(key.clone()),
                set(r"C:\Temp", RegValue::Dword(0)),
                set("", RegValue::Sz("def".into())),
                set("Multi", RegValue::MultiSz(vec!["a".into(), "bc".into()])),
                set("Exp", RegValue::ExpandSz("%TMP%".into())),
                set("Q", RegValue::Qword(1)),
                set("Bin", RegValue::Binary(vec![0xde, 0xad, 0xbe, 0xef])),
                RegEntry::DeleteValue {
                    key: key.clone(),
                    name: "Gone".into()
                },
                RegEntry::DeleteKey(p(r"HKCU\Software\Old")),
            ]
        );
    }

    #[test]
    fn decodes_utf8_with_and_without_bom() {
        let text = "REGEDIT4\n\n[HKLM\\A]\n\"x\"=\"é\"\n";
        assert_eq!(decode_reg_bytes(text.as_bytes()).unwrap(), text);
        let mut with_bom = vec![0xEF, 0xBB, 0xBF];
        with_bom.extend_from_slice(text.as_bytes());
        assert_eq!(decode_reg_bytes(&with_bom).unwrap(), text);
        assert!(matches!(
            decode_reg_bytes(&[0xFF, 0xFE, 0x41]),
            Err(RegFileError::Encoding { .. })
        ));
        assert!(matches!(
            decode_reg_bytes(&[0xFF, 0xFE, 0x00, 0xD8]),
            Err(RegFileError::Encoding { .. })
        ));
        assert!(matches!(
            decode_reg_bytes(&[0x41, 0xC3]),
            Err(RegFileError::Encoding { .. })
        ));
        assert!(matches!(
            decode_reg_bytes(b"W\0i\0"),
            Err(RegFileError::Encoding { .. })
        ));
        assert!(matches!(
            decode_reg_bytes(&[0xFE, 0xFF, 0, 0x41]),
            Err(RegFileError::Encoding { .. })
        ));
    }

    #[test]
    fn regedit4_strings_are_ansi() {
        let text = "REGEDIT4\n\n[HKEY_CURRENT_USER\\A]\n\"e\"=hex(2):25,50,25,00\n\"m\"=hex(7):61,00,62,00,00\n";
        let entries = parse_reg(text).unwrap();
        let key = p(r"HKCU\A");
        assert_eq!(
            entries[1..],
            [
                RegEntry::SetValue {
                    key: key.clone(),
                    name: "e".into(),
                    value: RegValue::ExpandSz("%P%".into())
                },
                RegEntry::SetValue {
                    key,
                    name: "m".into(),
                    value: RegValue::MultiSz(vec!["a".into(), "b".into()])
                },
            ]
        );
        let bad = "REGEDIT4\n[HKCU\\A]\n\"e\"=hex(2):e9,00\n";
        assert!(matches!(
            parse_reg(bad),
            Err(RegFileError::InvalidData { line: 3, .. })
        ));
    }

    fn parse_err(body: &str) -> RegFileError {
        let text = format!("Windows Registry Editor Version 5.00\n\n[HKLM\\K]\n{body}\n");
        parse_reg(&text).expect_err(body)
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        assert!(matches!(
            parse_reg(""),
            Err(RegFileError::MissingHeader { .. })
        ));
        assert!(matches!(
            parse_reg("REGEDIT5\n"),
            Err(RegFileError::MissingHeader { .. })
        ));
        let e = parse_err("\"a\"=hex(0):00");
        assert!(
            matches!(&e, RegFileError::UnsupportedType { line: 4, ty } if ty == "hex(0)"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("line 4: unsupported value type 'hex(0)'"),
            "{e}"
        );
        assert!(matches!(
            parse_err("\"a\"=hex(5):00,00,00,01"),
            RegFileError::UnsupportedType { .. }
        ));
        assert!(matches!(
            parse_err("\"a\"=dword:123456789"),
            RegFileError::Syntax { line: 4, .. }
        ));
        assert!(matches!(
            parse_err("\"a\"=dword:+1"),
            RegFileError::Syntax { line: 4, .. }
        ));
        assert!(matches!(
            parse_err("\"a\"=dword:"),
            RegFileError::Syntax { line: 4, .. }
        ));
        assert!(matches!(
            parse_err("\"a\"=hex(b):01,02"),
            RegFileError::InvalidData { line: 4, .. }
        ));
        assert!(matches!(
            parse_err("\"a\"=hex:1g"),
            RegFileError::Syntax { line: 4, .. }
        ));
        assert!(matches!(
            parse_err("\"a\"=hex:123"),
            RegFileError::Syntax { line: 4, .. }
        ));
        assert!(matches!(
            parse_err("\"a\"=hex(:00"),
            RegFileError::Syntax { .. }
        ));
        let eof = "Windows Registry Editor Version 5.00\n[HKLM\\K]\n\"a\"=hex:00,\\";
        assert!(matches!(
            parse_reg(eof),
            Err(RegFileError::Syntax { line: 3, .. })
        ));
        assert!(matches!(
            parse_err("\"a\"=hex(2):41"),
            RegFileError::InvalidData { .. }
        ));
        assert!(matches!(
            parse_err("\"a\"=\"unterminated"),
            RegFileError::Syntax { .. }
        ));
        assert!(matches!(
            parse_err("\"a\"=\"x\" trailing"),
            RegFileError::Syntax { .. }
        ));
        assert!(matches!(
            parse_err(r#""a"="C:\Temp""#),
            RegFileError::Syntax { .. }
        ));
        assert!(matches!(
            parse_err("\"a\"=\"nul\0\""),
            RegFileError::InvalidData { .. }
        ));
        assert!(matches!(
            parse_err("\"a\0\"=\"x\""),
            RegFileError::InvalidValueName { .. }
        ));
        assert!(matches!(
            parse_err("\"a\" \"x\""),
            RegFileError::Syntax { .. }
        ));
        assert!(matches!(
            parse_err("\"a\"=maybe"),
            RegFileError::Syntax { .. }
        ));
        assert!(matches!(
            parse_err("garbage"),
            RegFileError::Syntax { line: 4, .. }
        ));
        assert!(matches!(
            parse_err("[HKLM\\A"),
            RegFileError::Syntax { line: 4, .. }
        ));
        assert!(matches!(
            parse_err("[HKLM\\A\\..\\B]"),
            RegFileError::InvalidKey { line: 4, .. }
        ));
        assert!(matches!(
            parse_err("[HKLM/A]"),
            RegFileError::InvalidKey { .. }
        ));
        assert!(matches!(parse_err("[-HKLM]"), RegFileError::Syntax { .. }));
        assert!(matches!(
            parse_err("[-HKLM\\X]\n\"a\"=\"b\""),
            RegFileError::ValueOutsideKey { line: 5 }
        ));
        let e = parse_reg("REGEDIT4\n\"a\"=\"b\"\n").unwrap_err();
        assert!(matches!(e, RegFileError::ValueOutsideKey { line: 2 }));
    }

    #[test]
    fn lenient_where_regedit_is() {
        let text = "Windows Registry Editor Version 5.00\n  [HKLM\\K]  \n  \"a\" = dword:1F\n\"b\"=HEX:01,02,\n\"c\"=-\n@=-\n";
        let key = p(r"HKLM\K");
        assert_eq!(
            parse_reg(text).unwrap(),
            vec![
                RegEntry::CreateKey(key.clone()),
                RegEntry::SetValue {
                    key: key.clone(),
                    name: "a".into(),
                    value: RegValue::Dword(0x1f)
                },
                RegEntry::SetValue {
                    key: key.clone(),
                    name: "b".into(),
                    value: RegValue::Binary(vec![1, 2])
                },
                RegEntry::DeleteValue {
                    key: key.clone(),
                    name: "c".into()
                },
                RegEntry::DeleteValue {
                    key,
                    name: String::new()
                },
            ]
        );
    }
}
