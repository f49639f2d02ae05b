//! Text chosen by a phone (decline reasons, error messages, anything echoed
//! from its frames) on its way into the terminal's logs and reports.
//!
//! Such text is never written raw: a newline would forge log lines, an ANSI
//! escape would repaint the operator's console, a megabyte would flood the
//! report queue. [`Untrusted`] caps it at [`MAX_CHARS`] characters and
//! quotes it with Rust's `{:?}` escaping, which turns every control,
//! formatting and bidirectional character into a visible `\n` or `\u{…}`.

use std::fmt;

/// The most characters of phone-chosen text kept (before escaping).
pub(crate) const MAX_CHARS: usize = 120;

/// Phone-chosen text, displayed capped, quoted and escaped:
/// `Untrusted("ok\n\u{1b}[31m")` displays as `"ok\n\u{1b}[31m"` with the
/// backslashes literal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Untrusted<'a>(pub(crate) &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut capped: String = self.0.chars().take(MAX_CHARS).collect();
        if self.0.chars().nth(MAX_CHARS).is_some() {
            capped.push('…');
        }
        write!(f, "{capped:?}")
    }
}

/// The safe form of phone-chosen text, for a report or a stored message.
pub(crate) fn untrusted(text: &str) -> String {
    Untrusted(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_formatting_characters_are_escaped_and_quoted() {
        let safe = untrusted("ok\nINFO forged\r\u{1b}[31mred\u{7}\u{202e}x\u{0}");
        assert!(!safe.chars().any(|c| c.is_control()), "{safe}");
        assert!(!safe.contains('\u{202e}'), "{safe}");
        assert_eq!(safe, r#""ok\nINFO forged\r\u{1b}[31mred\u{7}\u{202e}x\0""#);
        assert_eq!(untrusted("changed my mind"), "\"changed my mind\"");
        assert_eq!(untrusted("say \"hi\""), r#""say \"hi\"""#);
    }

    #[test]
    fn long_text_is_capped() {
        let safe = untrusted(&"é".repeat(10_000));
        assert_eq!(safe.chars().filter(|c| *c == 'é').count(), MAX_CHARS);
        assert!(safe.ends_with("…\""), "{safe}");
        assert_eq!(untrusted(&"a".repeat(MAX_CHARS)).len(), MAX_CHARS + 2);
    }
}
