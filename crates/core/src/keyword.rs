//! Opt-out, opt-in and help keywords in an inbound text.
//!
//! Carriers and AWS give certain whole-message replies a legal meaning
//! (docs/connect-chat.md §7.3): the bridge must not forward them into the chat as
//! ordinary text. This module only recognises them; what happens next (ending the chat,
//! clearing the opt-out flag, answering HELP) is decided by `session`.
//!
//! Classification is deliberately narrow: the whole message must be the keyword, ignoring
//! case, surrounding whitespace and trailing punctuation, so "please stop calling" or
//! "I want to cancel my order" stay ordinary text. A false opt-out would end a customer's
//! chat; a missed one is still honoured by End User Messaging's own opt-out list.

use serde::{Deserialize, Serialize};

/// What a keyword message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keyword {
    /// Stop all messages to this number (STOP and its synonyms).
    OptOut,
    /// Resume messages after an opt-out (START, UNSTOP, YES).
    ///
    /// "Yes" is also an everyday answer: act on this only for an opted-out customer and
    /// otherwise treat the text as ordinary.
    OptIn,
    /// Ask what this number is and how to opt out (HELP, INFO, AIDE).
    Help,
}

impl Keyword {
    /// A stable snake_case name (`opt_out`, `opt_in`, `help`), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptOut => "opt_out",
            Self::OptIn => "opt_in",
            Self::Help => "help",
        }
    }
}

/// Opt-out keywords: AWS's required list (ARRET, CANCEL, END, OPT-OUT, OPTOUT, QUIT, REMOVE,
/// STOP, TD, UNSUBSCRIBE; §7.3), plus STOPALL and REVOKE, which US carriers also treat as
/// opt-out (REVOKE since the FCC's 2025 consent-revocation rule). "OPT OUT" is OPT-OUT as
/// phones often autocorrect it.
pub const OPT_OUT: [&str; 13] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "OPT-OUT",
    "OPT OUT",
    "REMOVE",
    "ARRET",
    "TD",
    "REVOKE",
];

/// Opt-in keywords: START and UNSTOP (AWS's toll-free re-subscribe words, §7.3) and YES
/// (the carriers' usual opt-in word). Nothing else: SUBSCRIBE or JOIN are not opt-in words
/// of AWS or the carriers, and in a support chat they are more likely part of a question.
pub const OPT_IN: [&str; 3] = ["START", "UNSTOP", "YES"];

/// Help keywords: HELP and INFO (the industry's help words) and AIDE (French, for Canada,
/// matching ARRET).
pub const HELP: [&str; 3] = ["HELP", "INFO", "AIDE"];

/// Longer than any keyword with its spacing normalised; longer messages are not keywords,
/// which keeps classifying a long body cheap.
const MAX_KEYWORD_BYTES: usize = 32;

/// Classifies a whole message as a keyword, or `None` for ordinary text.
///
/// Case-insensitive (Unicode uppercasing); surrounding whitespace and trailing punctuation
/// are ignored, and runs of inner whitespace count as one space ("opt   out!" is
/// [`Keyword::OptOut`]). Full-width or accented spellings are not recognised.
pub fn classify(body: &str) -> Option<Keyword> {
    let core = body
        .trim_start()
        .trim_end_matches(|c: char| c.is_whitespace() || is_trailing_punctuation(c));
    if core.is_empty() || core.len() > MAX_KEYWORD_BYTES {
        return None;
    }
    let normalised = core
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    let word = normalised.as_str();
    if OPT_OUT.contains(&word) {
        Some(Keyword::OptOut)
    } else if OPT_IN.contains(&word) {
        Some(Keyword::OptIn)
    } else if HELP.contains(&word) {
        Some(Keyword::Help)
    } else {
        None
    }
}

/// ASCII punctuation, plus the sentence-ending marks phones commonly produce (ellipsis,
/// full-width and CJK stops, inverted marks).
fn is_trailing_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || matches!(c, '…' | '。' | '！' | '？' | '．' | '¡' | '¿')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each keyword written out here rather than read from the constants, so a word
    /// dropped from a list fails a test.
    const OPT_OUT_WORDS: [&str; 13] = [
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "OPTOUT",
        "OPT-OUT",
        "OPT OUT",
        "REMOVE",
        "ARRET",
        "TD",
        "REVOKE",
    ];
    const OPT_IN_WORDS: [&str; 3] = ["START", "YES", "UNSTOP"];
    const HELP_WORDS: [&str; 3] = ["HELP", "INFO", "AIDE"];

    fn all_words() -> Vec<(&'static str, Keyword)> {
        let tagged = |words: &'static [&'static str], keyword| {
            words.iter().map(move |word| (*word, keyword))
        };
        tagged(&OPT_OUT_WORDS, Keyword::OptOut)
            .chain(tagged(&OPT_IN_WORDS, Keyword::OptIn))
            .chain(tagged(&HELP_WORDS, Keyword::Help))
            .collect()
    }

    #[test]
    fn every_opt_out_keyword_is_opt_out() {
        for word in OPT_OUT_WORDS {
            assert_eq!(classify(word), Some(Keyword::OptOut), "{word}");
        }
    }

    #[test]
    fn every_opt_in_keyword_is_opt_in() {
        for word in OPT_IN_WORDS {
            assert_eq!(classify(word), Some(Keyword::OptIn), "{word}");
        }
    }

    #[test]
    fn every_help_keyword_is_help() {
        for word in HELP_WORDS {
            assert_eq!(classify(word), Some(Keyword::Help), "{word}");
        }
    }

    #[test]
    fn keywords_match_in_any_case() {
        for (word, keyword) in all_words() {
            let lower = word.to_lowercase();
            let mut title = lower.clone();
            title[..1].make_ascii_uppercase();
            let alternating: String = word
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }
                })
                .collect();
            for variant in [lower, title, alternating] {
                assert_eq!(classify(&variant), Some(keyword), "{variant:?}");
            }
        }
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        for (word, keyword) in all_words() {
            for variant in [
                format!(" {word}"),
                format!("{word} "),
                format!("\t{word}\n"),
                format!("\r\n  {word}  \r\n"),
                format!("\u{a0}{word}\u{3000}"),
            ] {
                assert_eq!(classify(&variant), Some(keyword), "{variant:?}");
            }
        }
    }

    #[test]
    fn trailing_punctuation_is_ignored() {
        for (word, keyword) in all_words() {
            for variant in [
                format!("{word}."),
                format!("{word}!"),
                format!("{word}!!!"),
                format!("{word}?"),
                format!("{word} ."),
                format!("{word}.\n"),
                format!("{word}…"),
                format!("{word}?!"),
                format!("{word})"),
            ] {
                assert_eq!(classify(&variant), Some(keyword), "{variant:?}");
            }
        }
    }

    #[test]
    fn common_spellings_from_phones_are_recognised() {
        assert_eq!(classify("Stop."), Some(Keyword::OptOut));
        assert_eq!(classify("stop!"), Some(Keyword::OptOut));
        assert_eq!(classify("STOP"), Some(Keyword::OptOut));
        assert_eq!(classify("Opt out"), Some(Keyword::OptOut));
        assert_eq!(classify("opt   out!"), Some(Keyword::OptOut));
        assert_eq!(classify("Opt-Out"), Some(Keyword::OptOut));
        assert_eq!(classify("Arrêt"), None, "accented variants need not match");
        assert_eq!(classify("Yes!"), Some(Keyword::OptIn));
        assert_eq!(classify("Help?"), Some(Keyword::Help));
    }

    #[test]
    fn unicode_lowercase_is_uppercased() {
        // U+017F LATIN SMALL LETTER LONG S uppercases to S.
        assert_eq!(classify("\u{17f}top"), Some(Keyword::OptOut));
    }

    #[test]
    fn sentences_containing_keywords_are_not_keywords() {
        for sentence in [
            "please stop calling",
            "stop please",
            "STOP STOP",
            "I want to cancel my order",
            "cancel order 1234",
            "can you help me?",
            "help me",
            "yes please",
            "yes, that's right",
            "start over",
            "the end",
            "end of message",
            "quit it",
            "remove the item",
            "info about my bill",
            "unsubscribe me from the newsletter",
            "don't stop",
            "STOPPED",
            "stopping",
            "unstoppable",
            "helpful",
            "optout2",
            "OPT_OUT",
            "OPTOUT OPTOUT",
            "td bank",
            "¿help",
            "\"stop\"",
        ] {
            assert_eq!(classify(sentence), None, "{sentence:?}");
        }
    }

    #[test]
    fn blank_and_punctuation_only_messages_are_not_keywords() {
        for body in ["", " ", "\n", ".", "!!!", " ? "] {
            assert_eq!(classify(body), None, "{body:?}");
        }
    }

    #[test]
    fn full_width_letters_are_not_keywords() {
        assert_eq!(classify("ＳＴＯＰ"), None);
    }

    #[test]
    fn long_bodies_are_not_keywords() {
        let body = format!("{}STOP", " x".repeat(10_000));
        assert_eq!(classify(&body), None);
        let padded = format!("STOP{}", "!".repeat(10_000));
        assert_eq!(
            classify(&padded),
            Some(Keyword::OptOut),
            "trailing punctuation of any length"
        );
    }

    #[test]
    fn keyword_names_are_snake_case_in_serde_and_as_str() {
        for keyword in [Keyword::OptOut, Keyword::OptIn, Keyword::Help] {
            let json = serde_json::to_string(&keyword).unwrap();
            assert_eq!(json, format!("\"{}\"", keyword.as_str()));
            assert_eq!(serde_json::from_str::<Keyword>(&json).unwrap(), keyword);
        }
        assert_eq!(Keyword::OptOut.as_str(), "opt_out");
    }
}
