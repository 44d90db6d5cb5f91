//! Line and column positions for parse errors, so every error fits on one line.
//!
//! serde_json appends " at line L column C" to its messages and the toml crate renders a
//! multi-line snippet; both are reduced here to `(line, column, message)`.

/// Splits a serde_json error into line, column and the bare message.
pub(crate) fn json_error_parts(error: &serde_json::Error) -> (usize, usize, String) {
    let (line, column) = (error.line(), error.column());
    let full = error.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    (line, column, one_line(message))
}

/// Splits a toml error into line, column (both 1-based) and the bare message.
pub(crate) fn toml_error_parts(error: &toml::de::Error, text: &str) -> (usize, usize, String) {
    let (line, column) = match error.span() {
        Some(span) => line_column(text, span.start),
        // Errors without a span (rare: whole-document problems) point at the start.
        None => (1, 1),
    };
    (line, column, one_line(error.message()))
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    // A span may point inside a multi-byte character; back up to a boundary rather than panic.
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Collapses any line breaks so the message stays on one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn line_column_counts_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // Byte 8 is inside 'é'; the position falls back to the character's start.
        assert_eq!(line_column(text, 8), (2, 2));
        assert_eq!(line_column(text, 1000), (3, 1));
    }
}
