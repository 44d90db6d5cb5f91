//! Text that came from a plugin or an input file, made safe to show: control characters
//! escaped (a terminal must not take a plugin's message for cursor movements or colours) and
//! long input cut to a short excerpt (a refusal never quotes a whole attack back).

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character (C0, DEL and C1, which include ESC, CR, BS and the
/// 8-bit CSI) and every Unicode bidirectional override written as an escape (`\r`, `\u{1b}`),
/// so that printing it can neither move the cursor, nor change colours, nor reorder what
/// follows. Backslashes are kept as they are: Windows paths are full of them. Borrowed when
/// there is nothing to escape.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidirectional embeddings, overrides and isolates (the "Trojan Source" characters).
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// At most `max` characters of `text`, control characters escaped, with how much was left out:
/// what a one-line refusal may quote of an input.
pub fn excerpt(text: &str, max: usize) -> String {
    let total = text.chars().count();
    let head: String = text.chars().take(max).collect();
    let mut out = escape_control(&head).into_owned();
    if total > max {
        let _ = write!(out, "… ({} more characters)", total - max);
    }
    out
}

/// A TOML error as one line: the message and where (line:column) in `text`.
pub fn toml_message(e: &toml::de::Error, text: &str) -> String {
    // The parser's message may quote the offending value: keep a short, escaped excerpt.
    let message = crate::text::excerpt(e.message().trim(), 200);
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped_and_plain_text_borrowed() {
        assert!(matches!(
            escape_control(r"HKLM\SOFTWARE ok"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_control("error\r\u{1b}[2Kcompliant\u{1b}]8;;x\u{7}\u{9b}"),
            "error\\r\\u{1b}[2Kcompliant\\u{1b}]8;;x\\u{7}\\u{9b}"
        );
        assert_eq!(escape_control("a\u{202e}b\nc"), "a\\u{202e}b\\nc");
    }

    #[test]
    fn excerpts_are_short_escaped_and_say_what_was_cut() {
        assert_eq!(excerpt("short", 10), "short");
        let long = format!("{}\u{1b}", "x".repeat(60_000));
        let cut = excerpt(&long, 20);
        assert_eq!(cut, format!("{}… (59981 more characters)", "x".repeat(20)));
    }
}
