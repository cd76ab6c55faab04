//! Newtypes for every identifier, and redacting newtypes for the secret tokens.
//!
//! Ids are opaque strings chosen by AWS; we only check they are non-empty and within the
//! length the API models allow, so a wrong kind of id cannot be passed where another is
//! expected. Tokens have no `Display` and a redacted `Debug`: reading one takes an explicit
//! [`ParticipantToken::expose`] call, which is easy to spot in review.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value was not a valid id of the named kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: must be 1 to {max} characters, got {len}")]
pub struct InvalidId {
    /// Which id kind was being built.
    pub kind: &'static str,
    /// The maximum length allowed.
    pub max: usize,
    /// The length that was given.
    pub len: usize,
}

macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $max:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Builds the id, checking its length.
            ///
            /// # Errors
            /// [`InvalidId`] when the value is empty or longer than the API allows.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                let len = value.chars().count();
                if len == 0 || len > $max {
                    return Err(InvalidId { kind: $kind, max: $max, len });
                }
                Ok(Self(value))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

id_newtype!(
    /// An Amazon Connect contact id (one chat segment).
    ContactId, "contact id", 256
);
id_newtype!(
    /// A participant id within a contact.
    ParticipantId, "participant id", 256
);
id_newtype!(
    /// End User Messaging's `inboundMessageId`: unique per inbound SMS, our dedupe key.
    InboundMessageId, "inbound message id", 256
);
id_newtype!(
    /// The id SNS returns for a published SMS.
    SmsMessageId, "sms message id", 256
);
id_newtype!(
    /// A transcript item id (message or event) in a Connect chat.
    ItemId, "transcript item id", 256
);
id_newtype!(
    /// An Amazon Connect instance id.
    InstanceId, "instance id", 100
);
id_newtype!(
    /// An Amazon Connect contact flow id.
    ContactFlowId, "contact flow id", 500
);

macro_rules! secret_newtype {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Wraps a token, checking it is 1 to 1000 characters (the API's limit).
            ///
            /// # Errors
            /// [`InvalidId`] when empty or too long.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                let len = value.chars().count();
                if len == 0 || len > 1000 {
                    return Err(InvalidId { kind: $kind, max: 1000, len });
                }
                Ok(Self(value))
            }

            /// The secret itself, for the one place that must send it (an API header).
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(<redacted>)", stringify!($name))
            }
        }
    };
}

secret_newtype!(
    /// The customer participant's token (from StartChatContact); lives as long as the
    /// participant. Secret: never logged.
    ParticipantToken, "participant token"
);
secret_newtype!(
    /// A connection token (from CreateParticipantConnection); expires after a day.
    /// Secret: never logged.
    ConnectionToken, "connection token"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_empty_and_too_long() {
        assert!(ContactId::new("").is_err());
        assert!(ContactId::new("a".repeat(257)).is_err());
        assert_eq!(ContactId::new("abc").unwrap().as_str(), "abc");
        assert!(InstanceId::new("x".repeat(101)).is_err());
    }

    #[test]
    fn tokens_are_redacted_in_debug() {
        let token = ConnectionToken::new("super-secret-value").unwrap();
        let printed = format!("{token:?}");
        assert!(!printed.contains("super-secret"), "{printed}");
        assert_eq!(token.expose(), "super-secret-value");
        let participant = ParticipantToken::new("p-secret").unwrap();
        assert!(!format!("{participant:?}").contains("p-secret"));
    }

    #[test]
    fn ids_round_trip_through_serde() {
        let id = ContactId::new("c-1").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"c-1\"");
        let back: ContactId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<ContactId>("\"\"").is_err());
    }
}
