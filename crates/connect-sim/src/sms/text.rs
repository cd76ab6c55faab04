//! A text's encoding and part count, as delivery events report them (`messageEncoding`,
//! `totalMessageParts`).
//!
//! One SMS is 140 bytes: 160 GSM-7 characters, or 70 UCS-2 units as soon as one character
//! is outside GSM 03.38; a text of several parts loses room to the concatenation header,
//! 153 and 67 a part (docs/connect-chat.md §7.2). The characters of the GSM extension table
//! take two septets. The count is an estimate: it does not avoid splitting an escape pair or
//! a surrogate pair across parts, as a real splitter must.

use serde::Serialize;

/// GSM 03.38's default alphabet, without the escape code (127 characters).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// GSM 03.38's extension table (form feed and 9 printable characters): each costs an
/// escape septet and its own.
const GSM_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// Units of one single-part message, and of each part of a longer one.
const GSM_SINGLE: usize = 160;
const GSM_PART: usize = 153;
const UCS2_SINGLE: usize = 70;
const UCS2_PART: usize = 67;

/// How a text travels: `messageEncoding` in delivery events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Encoding {
    /// Every character is in GSM 03.38 (basic or extension table).
    #[serde(rename = "GSM")]
    Gsm,
    /// At least one character is not: the whole text goes as UCS-2.
    #[serde(rename = "UCS2")]
    Ucs2,
}

impl Encoding {
    /// The text's encoding.
    #[must_use]
    pub fn of(text: &str) -> Self {
        let gsm = text
            .chars()
            .all(|c| GSM_BASIC.contains(c) || GSM_EXTENSION.contains(c));
        if gsm { Self::Gsm } else { Self::Ucs2 }
    }

    /// The name events carry.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gsm => "GSM",
            Self::Ucs2 => "UCS2",
        }
    }
}

/// How many SMS parts `text` takes (at least 1).
#[must_use]
pub fn parts(text: &str) -> usize {
    let (units, single, part) = match Encoding::of(text) {
        Encoding::Gsm => {
            let septets = text
                .chars()
                .map(|c| if GSM_EXTENSION.contains(c) { 2 } else { 1 })
                .sum();
            (septets, GSM_SINGLE, GSM_PART)
        }
        Encoding::Ucs2 => (text.encode_utf16().count(), UCS2_SINGLE, UCS2_PART),
    };
    if units <= single {
        1
    } else {
        units.div_ceil(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gsm_tables_have_their_sizes() {
        assert_eq!(GSM_BASIC.chars().count(), 127);
        assert_eq!(GSM_EXTENSION.chars().count(), 10);
    }

    #[test]
    fn gsm_text_stays_gsm_and_one_other_character_makes_it_ucs2() {
        assert_eq!(
            Encoding::of("Hello, see you at 5 @ the café? €3"),
            Encoding::Gsm
        );
        assert_eq!(Encoding::of("Ünïcode"), Encoding::Ucs2);
        assert_eq!(Encoding::of("smile 🙂"), Encoding::Ucs2);
        assert_eq!(Encoding::of("“quotes”"), Encoding::Ucs2);
        assert_eq!(Encoding::Gsm.as_str(), "GSM");
        assert_eq!(Encoding::Ucs2.as_str(), "UCS2");
    }

    #[test]
    fn gsm_parts_are_160_then_153() {
        assert_eq!(parts("a"), 1);
        assert_eq!(parts(&"a".repeat(160)), 1);
        assert_eq!(parts(&"a".repeat(161)), 2);
        assert_eq!(parts(&"a".repeat(306)), 2);
        assert_eq!(parts(&"a".repeat(307)), 3);
        assert_eq!(parts(&"a".repeat(1600)), 11);
    }

    #[test]
    fn extension_characters_cost_two_septets() {
        assert_eq!(parts(&"€".repeat(80)), 1);
        assert_eq!(parts(&"€".repeat(81)), 2);
    }

    #[test]
    fn ucs2_parts_are_70_then_67_utf16_units() {
        assert_eq!(parts("ê"), 1);
        assert_eq!(parts(&"ê".repeat(70)), 1);
        assert_eq!(parts(&"ê".repeat(71)), 2);
        assert_eq!(parts(&"ê".repeat(134)), 2);
        assert_eq!(parts(&"ê".repeat(135)), 3);
        // An emoji is two UTF-16 units.
        assert_eq!(parts(&"🙂".repeat(35)), 1);
        assert_eq!(parts(&"🙂".repeat(36)), 2);
    }
}
