//! [`PhoneNumber`]: a phone number that is always valid E.164, and masked when printed.
//!
//! Full numbers are personal data: `Display` and `Debug` show `+1******4567`, and the raw
//! number is only reachable through [`PhoneNumber::as_e164`], which reviewers can grep for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The fewest digits we accept after `+`. The shortest E.164 numbers in use have 7; anything
/// shorter is a short code, which cannot be a customer number.
const MIN_DIGITS: usize = 7;
/// E.164 allows at most 15 digits after `+`.
const MAX_DIGITS: usize = 15;

/// Why a string is not an E.164 phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing but formatting characters.
    #[error("phone number is empty")]
    Empty,
    /// Digits without a `+` country-code prefix: the country cannot be known.
    #[error("phone number must start with + and a country code")]
    MissingPlus,
    /// A character that is neither a digit nor accepted formatting.
    #[error("phone number contains {found:?} at position {position}")]
    InvalidCharacter {
        /// The offending character.
        found: char,
        /// Its 0-based character position in the input.
        position: usize,
    },
    /// A 3–6 digit short code: valid for SMS, but not an E.164 number.
    #[error("phone number has {digits} digits: a short code, not an E.164 number")]
    ShortCode {
        /// How many digits were found.
        digits: usize,
    },
    /// Fewer digits than any E.164 number.
    #[error("phone number has {digits} digits, fewer than {MIN_DIGITS}")]
    TooShort {
        /// How many digits were found.
        digits: usize,
    },
    /// More than 15 digits.
    #[error("phone number has {digits} digits, more than {MAX_DIGITS}")]
    TooLong {
        /// How many digits were found.
        digits: usize,
    },
    /// Country codes never start with 0.
    #[error("country code cannot start with 0")]
    LeadingZero,
}

/// A phone number in E.164 form (`+` then 7 to 15 digits, the first not 0).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses and normalises a number: spaces, dashes, dots and parentheses are removed,
    /// and a leading international `00` prefix becomes `+`.
    ///
    /// # Errors
    /// A [`PhoneError`] saying what is wrong (missing `+`, letters, short code, length).
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let mut digits = String::with_capacity(MAX_DIGITS + 1);
        let mut plus = false;
        for (position, found) in input.trim().chars().enumerate() {
            match found {
                '0'..='9' => digits.push(found),
                '+' if !plus && digits.is_empty() => plus = true,
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                _ => return Err(PhoneError::InvalidCharacter { found, position }),
            }
        }
        if !plus {
            match digits.strip_prefix("00") {
                Some(rest) if !rest.is_empty() => digits = rest.to_owned(),
                _ if digits.is_empty() => return Err(PhoneError::Empty),
                _ if (3..=6).contains(&digits.len()) => {
                    return Err(PhoneError::ShortCode {
                        digits: digits.len(),
                    });
                }
                _ => return Err(PhoneError::MissingPlus),
            }
        }
        let count = digits.len();
        if count == 0 {
            return Err(PhoneError::Empty);
        }
        if (3..=6).contains(&count) {
            return Err(PhoneError::ShortCode { digits: count });
        }
        if count < MIN_DIGITS {
            return Err(PhoneError::TooShort { digits: count });
        }
        if count > MAX_DIGITS {
            return Err(PhoneError::TooLong { digits: count });
        }
        if digits.starts_with('0') {
            return Err(PhoneError::LeadingZero);
        }
        Ok(Self(format!("+{digits}")))
    }

    /// The full number, `+` and digits. Personal data: do not log it.
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// The masked form used in logs: `+`, the first digit, stars, and the last four digits.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let keep_tail = 4;
        let hidden = digits.len().saturating_sub(1 + keep_tail);
        let mut out = String::with_capacity(self.0.len());
        out.push('+');
        out.push_str(&digits[..1]);
        out.extend(std::iter::repeat_n('*', hidden));
        out.push_str(&digits[1 + hidden..]);
        out
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn plain_e164_is_kept() {
        assert_eq!(
            PhoneNumber::parse("+15551234567").unwrap().as_e164(),
            "+15551234567"
        );
    }

    #[test]
    fn spaces_dashes_dots_and_parentheses_are_removed() {
        for input in [
            "+1 555 123 4567",
            "+1-555-123-4567",
            "+1 (555) 123.4567",
            " +15551234567 ",
        ] {
            assert_eq!(
                PhoneNumber::parse(input).unwrap().as_e164(),
                "+15551234567",
                "{input}"
            );
        }
    }

    #[test]
    fn international_00_prefix_becomes_plus() {
        assert_eq!(
            PhoneNumber::parse("0044 20 7946 0958").unwrap().as_e164(),
            "+442079460958"
        );
    }

    #[test]
    fn missing_plus_is_rejected() {
        assert_eq!(
            PhoneNumber::parse("15551234567"),
            Err(PhoneError::MissingPlus)
        );
    }

    #[test]
    fn too_long_is_rejected() {
        assert_eq!(
            PhoneNumber::parse("+1234567890123456"),
            Err(PhoneError::TooLong { digits: 16 })
        );
        assert!(
            PhoneNumber::parse("+123456789012345").is_ok(),
            "15 digits is the maximum"
        );
    }

    #[test]
    fn too_short_is_rejected() {
        assert_eq!(
            PhoneNumber::parse("+1"),
            Err(PhoneError::TooShort { digits: 1 })
        );
    }

    #[test]
    fn letters_are_rejected_with_their_position() {
        assert_eq!(
            PhoneNumber::parse("+1555CALLNOW"),
            Err(PhoneError::InvalidCharacter {
                found: 'C',
                position: 5
            })
        );
    }

    #[test]
    fn short_codes_are_rejected() {
        assert_eq!(
            PhoneNumber::parse("12345"),
            Err(PhoneError::ShortCode { digits: 5 })
        );
        assert_eq!(
            PhoneNumber::parse("+262966"),
            Err(PhoneError::ShortCode { digits: 6 })
        );
    }

    #[test]
    fn empty_and_leading_zero_are_rejected() {
        assert_eq!(PhoneNumber::parse(""), Err(PhoneError::Empty));
        assert_eq!(PhoneNumber::parse(" - "), Err(PhoneError::Empty));
        assert_eq!(
            PhoneNumber::parse("+0155512345"),
            Err(PhoneError::LeadingZero)
        );
        assert!(matches!(
            PhoneNumber::parse("++1555123456"),
            Err(PhoneError::InvalidCharacter { .. })
        ));
    }

    #[test]
    fn display_and_debug_are_masked() {
        let phone = PhoneNumber::parse("+15551234567").unwrap();
        assert_eq!(phone.to_string(), "+1******4567");
        assert_eq!(format!("{phone:?}"), "PhoneNumber(+1******4567)");
        assert!(!format!("{phone} {phone:?}").contains("555123"));
    }

    #[test]
    fn serde_validates() {
        let phone: PhoneNumber = serde_json::from_str("\"+1 555 123 4567\"").unwrap();
        assert_eq!(phone.as_e164(), "+15551234567");
        assert!(serde_json::from_str::<PhoneNumber>("\"hello\"").is_err());
    }

    proptest! {
        #[test]
        fn e164_round_trips(digits in "[1-9][0-9]{6,14}") {
            let phone = PhoneNumber::parse(&format!("+{digits}")).unwrap();
            prop_assert_eq!(phone.as_e164(), format!("+{digits}"));
            let again = PhoneNumber::parse(phone.as_e164()).unwrap();
            prop_assert_eq!(&again, &phone);
            let masked = phone.masked();
            prop_assert_eq!(masked.len(), phone.as_e164().len());
            prop_assert!(masked.ends_with(&digits[digits.len() - 4..]));
        }

        #[test]
        fn parse_never_panics(input in ".{0,40}") {
            let _ = PhoneNumber::parse(&input);
        }
    }
}
