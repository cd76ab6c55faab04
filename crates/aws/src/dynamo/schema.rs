//! The table's schema, in one place: key and attribute names, the `active_by_shard` index,
//! the TTL attribute, and item key formats.
//!
//! Everything that creates or checks the table reads these consts: [`super::create_table`]
//! (tests, local bootstrap), the adapter's reads and writes, and a test comparing
//! [`SCHEMA`] with the SAM template. Nothing here depends on the SDK, so the description
//! is plain data anyone can compare.
//!
//! Items (one table, `pk`/`sk` strings):
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | session | `SESSION#<customer E.164>#<support E.164>` | `SESSION` |
//! | dedupe marker | `INBOUND#<inboundMessageId>` | `INBOUND` |
//! | shard lease | `LEASE#<shard>` | `LEASE` |
//!
//! `sk` is a constant per kind: every item is alone in its partition, and the kind is
//! readable in the key. `ttl` (epoch seconds) is set on every item; DynamoDB deletes
//! expired items eventually (within days), so reads also treat an expired item as absent.

/// The partition key attribute (string).
pub const PK: &str = "pk";
/// The sort key attribute (string).
pub const SK: &str = "sk";
/// The TTL attribute (number, epoch seconds).
pub const TTL: &str = "ttl";
/// The sparse index listing live sessions per relay shard.
pub const ACTIVE_BY_SHARD: &str = "active_by_shard";
/// The index's partition key (number): the session's shard, present only while the
/// session is `starting` or `active`.
pub const ACTIVE_SHARD: &str = "active_shard";

/// `pk` prefix of session items.
pub const SESSION_PREFIX: &str = "SESSION#";
/// `pk` prefix of dedupe markers.
pub const INBOUND_PREFIX: &str = "INBOUND#";
/// `pk` prefix of shard leases.
pub const LEASE_PREFIX: &str = "LEASE#";
/// `sk` of session items.
pub const SESSION_SK: &str = "SESSION";
/// `sk` of dedupe markers.
pub const INBOUND_SK: &str = "INBOUND";
/// `sk` of shard leases.
pub const LEASE_SK: &str = "LEASE";

/// Names of the non-key attributes, by item kind.
pub mod attr {
    /// Session: the customer's number, E.164 (string).
    pub const CUSTOMER: &str = "customer";
    /// Session: the support number, E.164 (string).
    pub const SUPPORT: &str = "support";
    /// Session: `starting`, `active` or `ended` (string).
    pub const STATUS: &str = "status";
    /// Session: the n-th chat of the pair (number).
    pub const GENERATION: &str = "generation";
    /// Session and lease: optimistic-lock version (number).
    pub const VERSION: &str = "version";
    /// Session and lease: the relay shard (number).
    pub const SHARD: &str = "shard";
    /// Session: the current chat's contact (string, with the three below).
    pub const CONTACT_ID: &str = "contact_id";
    /// Session: the customer participant (string).
    pub const PARTICIPANT_ID: &str = "participant_id";
    /// Session: the participant token (string, secret; the table is encrypted at rest).
    pub const PARTICIPANT_TOKEN: &str = "participant_token";
    /// Session: the connection token (string, secret).
    pub const CONNECTION_TOKEN: &str = "connection_token";
    /// Session: when the connection token expires (string, RFC 3339).
    pub const CONNECTION_EXPIRY: &str = "connection_expiry";
    /// Session, relay-owned: the last transcript item delivered as SMS (string).
    pub const RELAY_CURSOR: &str = "relay_cursor";
    /// Session, relay-owned: the chat `relay_cursor` belongs to (string).
    pub const RELAY_CURSOR_CONTACT: &str = "relay_cursor_contact";
    /// Session, relay-owned: the numbered menu last sent in a chat (string, JSON:
    /// `bridge_core::menu::Menu`); removed when an agent or bot writes again.
    pub const MENU: &str = "menu";
    /// Session: the chat before the current one (string).
    pub const PREVIOUS_CONTACT_ID: &str = "previous_contact_id";
    /// Session: when the chat before the current one started (RFC 3339 string).
    pub const PREVIOUS_STARTED_AT: &str = "previous_started_at";
    /// Session: the customer opted out (boolean).
    pub const OPTED_OUT: &str = "opted_out";
    /// Session: when the current generation started (string, RFC 3339).
    pub const STARTED_AT: &str = "started_at";
    /// Session: last write (string, RFC 3339).
    pub const UPDATED_AT: &str = "updated_at";
    /// Session: the id of the write that produced the row (see `Session::writer`).
    pub const WRITER: &str = "writer";
    /// Session: the inbound text that is the chat's InitialMessage (see
    /// `Session::initial_sms`).
    pub const INITIAL_SMS: &str = "initial_sms";
    /// The inbound message id whose first start wrote the `starting` row
    /// (`Session::starting_sms`).
    pub const STARTING_SMS: &str = "starting_sms";
    /// The digest of that text's first part (`Session::starting_digest`).
    pub const STARTING_DIGEST: &str = "starting_digest";
    /// Dedupe: when the message reached Connect (string, RFC 3339).
    pub const PROCESSED_AT: &str = "processed_at";
    /// Lease: the holder (string).
    pub const OWNER: &str = "owner";
    /// Lease: when it lapses (number, epoch milliseconds, so conditions compare numbers).
    pub const EXPIRES_AT: &str = "expires_at";
}

/// A key attribute's DynamoDB type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// `S`.
    String,
    /// `N`.
    Number,
}

impl KeyType {
    /// The `AttributeType` as CloudFormation and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "S",
            Self::Number => "N",
        }
    }
}

/// A key attribute: name and type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyAttribute {
    /// Attribute name.
    pub name: &'static str,
    /// Attribute type.
    pub key_type: KeyType,
}

/// Which attributes an index copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projection {
    /// Every attribute (the relay needs whole sessions: tokens, cursor, contact).
    All,
}

impl Projection {
    /// The `ProjectionType` as CloudFormation and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "ALL",
        }
    }
}

/// A global secondary index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexSchema {
    /// Index name.
    pub name: &'static str,
    /// Its partition key.
    pub partition_key: KeyAttribute,
    /// Its sort key.
    pub sort_key: KeyAttribute,
    /// What it copies.
    pub projection: Projection,
}

/// The whole table description, as plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableSchema {
    /// Table partition key.
    pub partition_key: KeyAttribute,
    /// Table sort key.
    pub sort_key: KeyAttribute,
    /// The sparse live-session index.
    pub active_by_shard: IndexSchema,
    /// The TTL attribute (enabled).
    pub ttl_attribute: &'static str,
    /// Billing mode, as CloudFormation spells it.
    pub billing_mode: &'static str,
}

impl TableSchema {
    /// The `AttributeDefinitions`: every key attribute of the table and its index, once.
    pub fn attribute_definitions(&self) -> Vec<KeyAttribute> {
        let mut definitions: Vec<KeyAttribute> = Vec::with_capacity(4);
        let candidates = [
            self.partition_key,
            self.sort_key,
            self.active_by_shard.partition_key,
            self.active_by_shard.sort_key,
        ];
        for attribute in candidates {
            if !definitions.iter().any(|seen| seen.name == attribute.name) {
                definitions.push(attribute);
            }
        }
        definitions
    }
}

/// The bridge's table.
pub const SCHEMA: TableSchema = TableSchema {
    partition_key: KeyAttribute {
        name: PK,
        key_type: KeyType::String,
    },
    sort_key: KeyAttribute {
        name: SK,
        key_type: KeyType::String,
    },
    active_by_shard: IndexSchema {
        name: ACTIVE_BY_SHARD,
        partition_key: KeyAttribute {
            name: ACTIVE_SHARD,
            key_type: KeyType::Number,
        },
        // The table key: unique within a shard and stable, so pages are deterministic.
        sort_key: KeyAttribute {
            name: PK,
            key_type: KeyType::String,
        },
        projection: Projection::All,
    },
    ttl_attribute: TTL,
    billing_mode: "PAY_PER_REQUEST",
};

/// A table to create: a name and [`SCHEMA`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDefinition {
    /// The table name.
    pub table_name: String,
    /// Keys, index, TTL.
    pub schema: TableSchema,
}

/// The definition of the bridge's table under `table_name`.
pub fn table_definition(table_name: &str) -> TableDefinition {
    TableDefinition {
        table_name: table_name.to_owned(),
        schema: SCHEMA,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_definitions_list_each_key_attribute_once() {
        let names: Vec<_> = SCHEMA
            .attribute_definitions()
            .iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, [PK, SK, ACTIVE_SHARD]);
    }
}
