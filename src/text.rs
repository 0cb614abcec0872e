//! Text that came from someone else (certificates, registries, pod specs),
//! made safe to show: control and invisible formatting characters escaped,
//! so a value can neither break a log line or a "one reason per line"
//! output, nor drive a terminal, nor reorder what a reader sees.

use std::borrow::Cow;
use std::fmt::Display;

/// An error's message on one line (serde's may span several).
pub(crate) fn one_line(e: impl Display) -> String {
    e.to_string().replace('\n', " ")
}

/// [`one_line`], shortened for a message that quotes it.
pub(crate) fn short_line(e: impl Display) -> String {
    crate::oci::digest::shorten(&one_line(e))
}

/// Whether `c` must not reach a log line or a terminal as is: C0 and C1
/// controls, DEL, and the invisible formatting characters that reorder or
/// hide text (bidirectional overrides and isolates, zero-width characters,
/// the byte-order mark).
fn unsafe_to_show(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// `s` with every character [`unsafe_to_show`] written as `\u{XX}`;
/// borrowed when nothing needed escaping.
pub(crate) fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_to_show) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_to_show(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn controls_and_invisible_formatting_are_escaped() {
        assert_eq!(printable("CN=ok, O=Acme"), "CN=ok, O=Acme");
        assert!(matches!(printable("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(printable("evil\nFAKE\x1b[31m"), "evil\\u{a}FAKE\\u{1b}[31m");
        assert_eq!(printable("a\rb\u{85}c\u{7f}"), "a\\u{d}b\\u{85}c\\u{7f}");
        assert_eq!(printable("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(printable("\u{feff}a\u{200b}b"), "\\u{feff}a\\u{200b}b");
        assert_eq!(printable("Zürich, 東京"), "Zürich, 東京");
        for s in ["a\nb", "\x1b]0;title\x07", "\u{2066}x\u{2069}"] {
            assert!(
                !printable(s)
                    .chars()
                    .any(|c| c.is_control() || ('\u{2066}'..='\u{2069}').contains(&c))
            );
        }
    }
}
