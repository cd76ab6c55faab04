//! Items ↔ domain types: key formats, attribute encodings, and strict parsing.
//!
//! Encodings: ids, tokens, numbers-as-E.164 and statuses are strings; counters and shards
//! are numbers; times the bridge only reads back are RFC 3339 strings with all their
//! sub-second digits (so a session round-trips exactly); times a condition compares
//! (`ttl`, lease `expires_at`) are numbers. An item that does not parse is reported as
//! [`StoreError::Corrupt`] with its key masked (phone numbers never reach logs).

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use bridge_core::PhoneNumber;
use bridge_core::ids::{
    ConnectionToken, ContactId, InboundMessageId, ItemId, ParticipantId, ParticipantToken,
};
use bridge_core::menu::Menu;
use bridge_core::ports::{Connection, Lease, OwnerId, StoreError};
use bridge_core::session::{Chat, Cursor, Session, SessionKey, Status};
use chrono::{DateTime, SecondsFormat, Utc};
use tracing::warn;

use super::schema::{
    INBOUND_PREFIX, INBOUND_SK, LEASE_PREFIX, LEASE_SK, PK, SESSION_PREFIX, SESSION_SK, SK, TTL,
    attr,
};

/// An item as the SDK hands it over.
pub(super) type Item = HashMap<String, AttributeValue>;

/// The chat attributes: all present (a chat) or all absent (none).
const CHAT_ATTRIBUTES: [&str; 5] = [
    attr::CONTACT_ID,
    attr::PARTICIPANT_ID,
    attr::PARTICIPANT_TOKEN,
    attr::CONNECTION_TOKEN,
    attr::CONNECTION_EXPIRY,
];

/// `SESSION#<customer>#<support>`.
pub(super) fn session_pk(key: &SessionKey) -> String {
    format!(
        "{SESSION_PREFIX}{}#{}",
        key.customer.as_e164(),
        key.support.as_e164()
    )
}

/// `INBOUND#<id>`.
pub(super) fn dedupe_pk(id: &InboundMessageId) -> String {
    format!("{INBOUND_PREFIX}{}", id.as_str())
}

/// `LEASE#<shard>`.
pub(super) fn lease_pk(shard: u16) -> String {
    format!("{LEASE_PREFIX}{shard}")
}

/// The primary key of a session item.
pub(super) fn session_key(key: &SessionKey) -> Item {
    primary_key(session_pk(key), SESSION_SK)
}

/// The primary key of a dedupe marker.
pub(super) fn dedupe_key(id: &InboundMessageId) -> Item {
    primary_key(dedupe_pk(id), INBOUND_SK)
}

/// The primary key of a lease.
pub(super) fn lease_key(shard: u16) -> Item {
    primary_key(lease_pk(shard), LEASE_SK)
}

fn primary_key(pk: String, sk: &str) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk)),
        (SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// A `pk` fit for logs and errors: phone numbers in it masked.
pub(super) fn masked_pk(pk: &str) -> String {
    pk.split('#')
        .map(|part| {
            if !part.starts_with('+') {
                return part.to_owned();
            }
            match PhoneNumber::parse(part) {
                Ok(phone) => phone.masked(),
                // Not a valid number, but still digits of one: hide them all.
                Err(_) => part
                    .chars()
                    .map(|c| if c.is_ascii_digit() { '*' } else { c })
                    .collect(),
            }
        })
        .collect::<Vec<_>>()
        .join("#")
}

/// A string attribute.
pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A time the bridge reads back: RFC 3339, UTC, every sub-second digit kept.
pub(super) fn time(value: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(value.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Epoch seconds, the `ttl` format.
pub(super) fn epoch_seconds(value: DateTime<Utc>) -> i64 {
    value.timestamp()
}

/// The attributes `put` sets and the ones it removes: every inbound-owned attribute,
/// present or absent, and never the relay's cursor.
pub(super) fn session_writes(
    session: &Session,
    version: u64,
    ttl: i64,
) -> (Vec<(&'static str, AttributeValue)>, Vec<&'static str>) {
    let mut set = vec![
        (attr::CUSTOMER, s(session.key.customer.as_e164())),
        (attr::SUPPORT, s(session.key.support.as_e164())),
        (attr::STATUS, s(session.status.as_str())),
        (attr::GENERATION, n(session.generation)),
        (attr::VERSION, n(version)),
        (attr::SHARD, n(session.shard)),
        (attr::OPTED_OUT, AttributeValue::Bool(session.opted_out)),
        (attr::STARTED_AT, time(session.started_at)),
        (attr::UPDATED_AT, time(session.updated_at)),
        (TTL, n(ttl)),
    ];
    let mut remove = Vec::new();
    if session.status.is_live() {
        set.push((super::schema::ACTIVE_SHARD, n(session.shard)));
    } else {
        remove.push(super::schema::ACTIVE_SHARD);
    }
    match &session.chat {
        Some(chat) => set.extend([
            (attr::CONTACT_ID, s(chat.contact_id.as_str())),
            (attr::PARTICIPANT_ID, s(chat.participant_id.as_str())),
            (attr::PARTICIPANT_TOKEN, s(chat.participant_token.expose())),
            (attr::CONNECTION_TOKEN, s(chat.connection.token.expose())),
            (attr::CONNECTION_EXPIRY, time(chat.connection.expires_at)),
        ]),
        None => remove.extend(CHAT_ATTRIBUTES),
    }
    match &session.previous_contact_id {
        Some(previous) => set.push((attr::PREVIOUS_CONTACT_ID, s(previous.as_str()))),
        None => remove.push(attr::PREVIOUS_CONTACT_ID),
    }
    match session.previous_started_at {
        Some(at) => set.push((attr::PREVIOUS_STARTED_AT, time(at))),
        None => remove.push(attr::PREVIOUS_STARTED_AT),
    }
    match &session.writer {
        Some(writer) => set.push((attr::WRITER, s(writer.as_str()))),
        None => remove.push(attr::WRITER),
    }
    match &session.initial_sms {
        Some(id) => set.push((attr::INITIAL_SMS, s(id.as_str()))),
        None => remove.push(attr::INITIAL_SMS),
    }
    match &session.starting_sms {
        Some(id) => set.push((attr::STARTING_SMS, s(id.as_str()))),
        None => remove.push(attr::STARTING_SMS),
    }
    match &session.starting_digest {
        Some(digest) => set.push((attr::STARTING_DIGEST, s(digest))),
        None => remove.push(attr::STARTING_DIGEST),
    }
    (set, remove)
}

/// Reads typed attributes out of one item, reporting problems against its masked key.
pub(super) struct Reader<'a> {
    item: &'a Item,
}

impl<'a> Reader<'a> {
    pub(super) fn new(item: &'a Item) -> Self {
        Self { item }
    }

    /// A [`StoreError::Corrupt`] for this item.
    pub(super) fn corrupt(&self, problem: impl Into<String>) -> StoreError {
        let key = match self.item.get(PK) {
            Some(AttributeValue::S(pk)) => masked_pk(pk),
            _ => "<no pk>".to_owned(),
        };
        StoreError::Corrupt {
            key,
            problem: problem.into(),
        }
    }

    pub(super) fn opt_s(&self, name: &str) -> Result<Option<&'a str>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(value)) => Ok(Some(value)),
            Some(_) => Err(self.corrupt(format!("{name} is not a string"))),
        }
    }

    pub(super) fn s(&self, name: &str) -> Result<&'a str, StoreError> {
        self.opt_s(name)?
            .ok_or_else(|| self.corrupt(format!("{name} is missing")))
    }

    pub(super) fn opt_n<T: FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(value)) => value
                .parse()
                .map(Some)
                .map_err(|_| self.corrupt(format!("{name} is out of range"))),
            Some(_) => Err(self.corrupt(format!("{name} is not a number"))),
        }
    }

    pub(super) fn n<T: FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.opt_n(name)?
            .ok_or_else(|| self.corrupt(format!("{name} is missing")))
    }

    fn boolean(&self, name: &str) -> Result<bool, StoreError> {
        match self.item.get(name) {
            Some(AttributeValue::Bool(value)) => Ok(*value),
            Some(_) => Err(self.corrupt(format!("{name} is not a boolean"))),
            None => Err(self.corrupt(format!("{name} is missing"))),
        }
    }

    fn time(&self, name: &str) -> Result<DateTime<Utc>, StoreError> {
        let value = self.s(name)?;
        DateTime::parse_from_rfc3339(value)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|_| self.corrupt(format!("{name} is not an RFC 3339 time")))
    }

    fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        if self.opt_s(name)?.is_none() {
            return Ok(None);
        }
        self.time(name).map(Some)
    }

    fn parsed<T, E>(
        &self,
        name: &str,
        parse: impl FnOnce(&'a str) -> Result<T, E>,
    ) -> Result<T, StoreError> {
        parse(self.s(name)?).map_err(|_| self.corrupt(format!("{name} is invalid")))
    }

    fn opt_parsed<T, E>(
        &self,
        name: &str,
        parse: impl FnOnce(&'a str) -> Result<T, E>,
    ) -> Result<Option<T>, StoreError> {
        self.opt_s(name)?
            .map(|value| parse(value).map_err(|_| self.corrupt(format!("{name} is invalid"))))
            .transpose()
    }

    /// Whether the item's `ttl` has passed (DynamoDB would delete it). No `ttl`: never.
    pub(super) fn expired(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self
            .opt_n::<i64>(TTL)?
            .is_some_and(|ttl| ttl <= epoch_seconds(now)))
    }
}

/// Parses a session item.
pub(super) fn session_from_item(item: &Item) -> Result<Session, StoreError> {
    let reader = Reader::new(item);
    let key = SessionKey::new(
        reader.parsed(attr::CUSTOMER, PhoneNumber::parse)?,
        reader.parsed(attr::SUPPORT, PhoneNumber::parse)?,
    );
    let status = reader.parsed(attr::STATUS, |value| Status::parse(value).ok_or(()))?;
    let present = CHAT_ATTRIBUTES
        .iter()
        .filter(|name| item.contains_key(**name))
        .count();
    let chat = match present {
        0 => None,
        n if n == CHAT_ATTRIBUTES.len() => Some(Chat {
            contact_id: reader.parsed(attr::CONTACT_ID, ContactId::new)?,
            participant_id: reader.parsed(attr::PARTICIPANT_ID, ParticipantId::new)?,
            participant_token: reader.parsed(attr::PARTICIPANT_TOKEN, ParticipantToken::new)?,
            connection: Connection {
                token: reader.parsed(attr::CONNECTION_TOKEN, ConnectionToken::new)?,
                expires_at: reader.time(attr::CONNECTION_EXPIRY)?,
            },
        }),
        _ => return Err(reader.corrupt("chat attributes are incomplete")),
    };
    let cursor_item = reader.opt_parsed(attr::RELAY_CURSOR, ItemId::new)?;
    let cursor_contact = reader.opt_parsed(attr::RELAY_CURSOR_CONTACT, ContactId::new)?;
    let relay_cursor = match (cursor_item, cursor_contact) {
        (Some(item_id), Some(contact_id)) => Some(Cursor {
            contact_id,
            item_id,
        }),
        (None, None) => None,
        _ => return Err(reader.corrupt("relay cursor is incomplete")),
    };
    Ok(Session {
        key,
        status,
        generation: reader.n(attr::GENERATION)?,
        version: reader.n(attr::VERSION)?,
        chat,
        shard: reader.n(attr::SHARD)?,
        relay_cursor,
        previous_contact_id: reader.opt_parsed(attr::PREVIOUS_CONTACT_ID, ContactId::new)?,
        previous_started_at: reader.opt_time(attr::PREVIOUS_STARTED_AT)?,
        opted_out: reader.boolean(attr::OPTED_OUT)?,
        started_at: reader.time(attr::STARTED_AT)?,
        updated_at: reader.time(attr::UPDATED_AT)?,
        writer: reader.opt_s(attr::WRITER)?.map(str::to_owned),
        initial_sms: reader.opt_parsed(attr::INITIAL_SMS, InboundMessageId::new)?,
        starting_sms: reader.opt_parsed(attr::STARTING_SMS, InboundMessageId::new)?,
        starting_digest: reader.opt_s(attr::STARTING_DIGEST)?.map(str::to_owned),
        // A menu that does not read only means the next text goes to the chat as written:
        // never a reason to refuse the session.
        menu: match reader.opt_s(attr::MENU) {
            Ok(Some(json)) => Menu::from_json(json)
                .inspect_err(|_| warn!("session menu is not readable; ignored"))
                .ok(),
            Ok(None) => None,
            Err(_) => {
                warn!("session menu is not a string; ignored");
                None
            }
        },
    })
}

/// Parses a lease item.
pub(super) fn lease_from_item(item: &Item) -> Result<Lease, StoreError> {
    let reader = Reader::new(item);
    let millis: i64 = reader.n(attr::EXPIRES_AT)?;
    let expires_at = DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| reader.corrupt("expires_at is out of range"))?;
    Ok(Lease {
        shard: reader.n(attr::SHARD)?,
        owner: OwnerId(reader.s(attr::OWNER)?.to_owned()),
        expires_at,
        version: reader.n(attr::VERSION)?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn key() -> SessionKey {
        SessionKey::new(
            PhoneNumber::parse("+15550100001").unwrap(),
            PhoneNumber::parse("+18005550100").unwrap(),
        )
    }

    fn item_of(session: &Session) -> Item {
        let (set, _) = session_writes(session, session.version, 0);
        let mut item = session_key(&session.key);
        item.extend(
            set.into_iter()
                .map(|(name, value)| (name.to_owned(), value)),
        );
        item
    }

    #[test]
    fn session_round_trips_through_its_item_exactly() {
        let now = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        let chat = Chat {
            contact_id: ContactId::new("c-1").unwrap(),
            participant_id: ParticipantId::new("p-1").unwrap(),
            participant_token: ParticipantToken::new("pt").unwrap(),
            connection: Connection {
                token: ConnectionToken::new("ct").unwrap(),
                expires_at: now + TimeDelta::days(1),
            },
        };
        let mut session = Session::first(key(), 9, now).activated(chat, now);
        session.previous_contact_id = Some(ContactId::new("c-0").unwrap());
        session.previous_started_at = Some(now - chrono::TimeDelta::hours(2));
        session.initial_sms = Some(InboundMessageId::new("sms-1").unwrap());
        session.starting_sms = Some(InboundMessageId::new("sms-0").unwrap());
        session.starting_digest = Some("0123456789abcdef01234567".to_owned());
        session.version = 4;
        assert_eq!(session_from_item(&item_of(&session)).unwrap(), session);
    }

    #[test]
    fn keys_in_errors_are_masked() {
        let pk = session_pk(&key());
        assert_eq!(pk, "SESSION#+15550100001#+18005550100");
        assert_eq!(masked_pk(&pk), "SESSION#+1******0001#+1******0100");
        assert_eq!(masked_pk("SESSION#+12#x"), "SESSION#+**#x");
        assert_eq!(masked_pk("LEASE#7"), "LEASE#7");
    }

    #[test]
    fn a_partial_chat_is_corrupt_and_names_no_number() {
        let session = Session::first(key(), 1, Utc::now());
        let mut item = item_of(&session);
        item.insert(attr::CONTACT_ID.to_owned(), s("c-1"));
        let error = session_from_item(&item).unwrap_err();
        let printed = format!("{error} {error:?}");
        assert!(matches!(error, StoreError::Corrupt { .. }), "{printed}");
        assert!(!printed.contains("5550100001"), "{printed}");
    }

    #[test]
    fn put_never_writes_the_relay_cursor_or_the_menu() {
        let session = Session::first(key(), 1, Utc::now());
        let (set, remove) = session_writes(&session, 1, 0);
        for owned in [attr::RELAY_CURSOR, attr::RELAY_CURSOR_CONTACT, attr::MENU] {
            assert!(set.iter().all(|(name, _)| *name != owned));
            assert!(!remove.contains(&owned));
        }
    }
}
