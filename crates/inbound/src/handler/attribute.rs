//! Contact attribute names the bridge sets on every chat it starts. Contact flows and agent
//! views read these, so they are part of the bridge's interface: change them deliberately.
//!
//! How a start stays safe under races, retries and crashes (the `starting` row, the
//! ClientToken fixed per generation, the transcript check after a takeover) is
//! `bridge_core::intake`'s; the request itself is built in `interpret.rs`.

/// The customer's phone number, E.164.
pub const CUSTOMER_NUMBER: &str = "customerNumber";
/// The support number the customer texted, E.164.
pub const SUPPORT_NUMBER: &str = "supportNumber";
/// The channel the customer uses: always [`CHANNEL_SMS`].
pub const CHANNEL: &str = "channel";
/// The value of [`CHANNEL`].
pub const CHANNEL_SMS: &str = "SMS";
/// The first text's first word, lowercased, letters and digits only (at most
/// [`KEYWORD_MAX_CHARS`]), so a flow can route on "billing" or "refund"; absent when
/// the text has no word.
pub const KEYWORD: &str = "keyword";
/// The first text as the chat's InitialMessage carries it: its first part, at most
/// 1,024 characters (4 KiB of UTF-8), far inside Connect's 32,768 bytes across all of a
/// contact's attributes.
pub const FIRST_TEXT: &str = "firstText";
/// The longest [`KEYWORD`].
pub const KEYWORD_MAX_CHARS: usize = 64;

/// The routing keyword of `text` ([`KEYWORD`]): its first word that has a letter or a
/// digit, lowercased, with everything else dropped.
pub fn keyword(text: &str) -> Option<String> {
    text.split_whitespace()
        .map(|word| {
            word.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .take(KEYWORD_MAX_CHARS)
                .collect::<String>()
        })
        .find(|word| !word.is_empty())
}

#[cfg(test)]
mod tests {
    use super::keyword;

    #[test]
    fn the_keyword_is_the_first_word_lowercased_without_punctuation() {
        assert_eq!(keyword("Billing: my invoice").as_deref(), Some("billing"));
        assert_eq!(keyword("  REFUND please").as_deref(), Some("refund"));
        assert_eq!(keyword("🙂 #2").as_deref(), Some("2"));
        assert_eq!(keyword("Größe?").as_deref(), Some("größe"));
        assert_eq!(keyword("?! 🙂"), None);
        assert_eq!(keyword(&"a".repeat(100)).map(|k| k.len()), Some(64));
    }
}
