//! Identifier and secret newtypes.
//!
//! Ids are UUID v4 strings like the real service's. Tokens are opaque random strings that
//! encode nothing (docs/connect-chat.md §2.1); their `Debug` is redacted so a token never
//! reaches a log line.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id.
            #[must_use]
            pub fn random() -> Self {
                Self(uuid::Uuid::new_v4().to_string())
            }

            /// Wraps an id received from a client; lookups decide whether it exists.
            #[must_use]
            pub fn from_client(text: &str) -> Self {
                Self(text.to_owned())
            }

            /// The id as sent on the wire.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A contact (one chat segment); the first contact of a chat is also its initial contact.
    ContactId
);
id_type!(
    /// A participant of a contact (customer or agent).
    ParticipantId
);
id_type!(
    /// A transcript item.
    ItemId
);

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident, $bytes:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// A fresh random secret.
            #[must_use]
            pub fn random() -> Self {
                let mut bytes = [0u8; $bytes];
                rand::rng().fill_bytes(&mut bytes);
                Self(URL_SAFE_NO_PAD.encode(bytes))
            }

            /// Wraps a secret received from a client; lookups decide whether it is valid.
            #[must_use]
            pub fn from_client(text: &str) -> Self {
                Self(text.to_owned())
            }

            /// The secret, for the one response that hands it out.
            #[must_use]
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_type!(
    /// Authorises CreateParticipantConnection for one participant (`X-Amz-Bearer`).
    ParticipantToken,
    48
);
secret_type!(
    /// Authorises the other participant calls (`X-Amz-Bearer`), valid until its expiry.
    ConnectionToken,
    48
);
secret_type!(
    /// The opaque last path segment of a WebSocket URL; single use.
    SocketKey,
    24
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_redacted() {
        let a = ParticipantToken::random();
        let b = ParticipantToken::random();
        assert_ne!(a, b);
        assert!(a.expose().len() >= 64, "token length {}", a.expose().len());
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn ids_are_uuid_v4() {
        let id = ContactId::random();
        let parsed = uuid::Uuid::parse_str(id.as_str()).expect("uuid");
        assert_eq!(parsed.get_version_num(), 4);
    }
}
