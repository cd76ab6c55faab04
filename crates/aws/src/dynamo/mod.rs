//! The DynamoDB adapter: sessions, dedupe markers and shard leases in one table.
//!
//! [`DynamoStore`] implements [`SessionStore`], [`DedupeStore`] and [`LeaseStore`] over the
//! table described in [`schema`]. Every write that can race is conditional, and a lost
//! condition (`ConditionalCheckFailedException`) becomes [`StoreError::Conflict`] (or the
//! port's documented "nothing to do" answer). Session writes are `UpdateItem`s that set
//! and remove only the attributes the inbound side owns, so a write from a stale read can
//! never roll back the relay's cursor.
//!
//! The SDK resends a write whose attempt timed out, and the first attempt may have applied:
//! a conditional write that loses to *itself* would be a false conflict. Lost conditions
//! therefore return the current item (`ReturnValuesOnConditionCheckFailure`), and a put or
//! lease write that finds exactly what it meant to write reports success.
//!
//! Expired items (`ttl` in the past) are absent to every read and condition here:
//! DynamoDB deletes them only eventually (DynamoDB Local too, by real time), and moto
//! never does. What "now" is comes from a [`Clock`] (the system clock unless a test sets
//! one).
//!
//! This module must not decide anything about sessions: it stores what `bridge-core`
//! decided. Tokens are stored (the table is encrypted at rest) and never logged; keys in
//! logs and errors have their phone numbers masked.

mod expr;
mod item;
pub mod schema;
mod table;

use std::fmt;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use bridge_core::ids::{ContactId, InboundMessageId, ItemId};
use bridge_core::menu::{Menu, MenuChange};
use bridge_core::ports::{
    BoxError, Clock, DedupeStore, Lease, LeaseStore, Marker, OwnerId, SessionStore, StoreError,
    SystemClock,
};
use bridge_core::session::{Session, SessionKey, Status};
use chrono::{DateTime, TimeDelta, Utc};
use tracing::{debug, warn};

use self::expr::Expr;
use self::item::{Item, Reader, epoch_seconds, n, s, time};
use self::schema::{ACTIVE_BY_SHARD, ACTIVE_SHARD, PK, TTL, attr};
pub use self::schema::{SCHEMA, TableDefinition, TableSchema, table_definition};
pub use self::table::create_table;
use crate::error::{
    AwsError, Class, RequestError, TransactionCancelled, UnprocessedKeys, classify, loggable,
};

/// BatchGetItem reads at most this many keys per call.
const BATCH_GET_LIMIT: usize = 100;
/// Rounds of BatchGetItem before unprocessed keys count as throttling.
const BATCH_GET_ROUNDS: u32 = 4;
/// The pause before the first repeat of unprocessed keys (doubling after).
const BATCH_GET_BACKOFF: Duration = Duration::from_millis(50);

/// How long items live, and how many lease slots the relay lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynamoSettings {
    /// A session lives this long after its last write.
    pub session_ttl: TimeDelta,
    /// A dedupe marker lives this long (Lambda retries and SNS redeliveries end well
    /// before).
    pub dedupe_ttl: TimeDelta,
    /// A lease item lives this long after it lapses (then it is garbage).
    pub lease_ttl: TimeDelta,
    /// How many lease items `LeaseStore::leases` reads: slots `0..lease_slots`, the
    /// relay's shards and then its membership slots. Only the relay's store needs it.
    pub lease_slots: NonZeroU16,
}

impl Default for DynamoSettings {
    fn default() -> Self {
        Self {
            session_ttl: TimeDelta::days(30),
            dedupe_ttl: TimeDelta::days(7),
            lease_ttl: TimeDelta::days(1),
            lease_slots: NonZeroU16::MIN.saturating_add(63),
        }
    }
}

/// Sessions, dedupe markers and leases in one DynamoDB table.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    settings: DynamoSettings,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// A store over `table`, judging expiry by the system clock.
    pub fn new(client: Client, table: impl Into<String>, settings: DynamoSettings) -> Self {
        Self {
            client,
            table: table.into(),
            settings,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same store judging expiry by `clock`.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Sends an UpdateItem built from `expr` and `condition`.
    ///
    /// A lost condition is not an error here: it comes back as [`Conditional::Lost`] with the
    /// item as it is, so callers can tell "someone else won" from "our own earlier attempt
    /// already applied this" (the SDK resends a write whose attempt timed out).
    async fn update(
        &self,
        key: Item,
        expr: Expr,
        condition: String,
        what: &'static str,
    ) -> Result<Conditional, StoreError> {
        let update = expr.update_expression();
        let (names, values) = expr.into_maps();
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match sent {
            Ok(output) => Ok(Conditional::Written(output.attributes.unwrap_or_default())),
            Err(SdkError::ServiceError(context))
                if matches!(
                    context.err(),
                    UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                let current = match context.into_err() {
                    UpdateItemError::ConditionalCheckFailedException(lost) => lost.item,
                    _ => None,
                };
                Ok(Conditional::Lost(current.filter(|item| !item.is_empty())))
            }
            Err(error) => Err(store_error(error, what)),
        }
    }

    /// The conditional update that writes `session` over version `expected`.
    fn session_write(&self, session: &Session, expected: Option<u64>) -> SessionWrite {
        let version = expected.map_or(1, |version| version.saturating_add(1));
        let (set, remove) =
            item::session_writes(session, version, self.session_ttl(session.updated_at));
        let mut expr = Expr::default();
        for (name, value) in set {
            expr.set(name, value);
        }
        for name in remove {
            expr.remove(name);
        }
        let condition = match expected {
            // Absent, or present but expired (as good as deleted).
            None => {
                let pk = expr.name(PK);
                let ttl = expr.name(TTL);
                let now = expr.value("now", n(epoch_seconds(self.clock.now())));
                format!("attribute_not_exists({pk}) OR {ttl} <= {now}")
            }
            Some(expected) => {
                let version = expr.name(attr::VERSION);
                let expected = expr.value("expected", n(expected));
                format!("{version} = {expected}")
            }
        };
        SessionWrite {
            expr,
            condition,
            version,
        }
    }

    /// The dedupe marker item.
    fn marker_item(&self, marker: &Marker) -> Item {
        let mut item = item::dedupe_key(&marker.id);
        item.insert(attr::PROCESSED_AT.to_owned(), time(marker.at));
        item.insert(
            TTL.to_owned(),
            n(epoch_seconds(marker.at + self.settings.dedupe_ttl)),
        );
        if let Some(contact_id) = &marker.contact_id {
            item.insert(attr::CONTACT_ID.to_owned(), s(contact_id.as_str()));
        }
        item
    }

    /// One TransactWriteItems: the conditional update `expr` of `key`'s session row and the
    /// put of `marker`. The outer error is a request that could not be built; the inner
    /// result is DynamoDB's answer. `return_old`: a lost condition returns the row.
    ///
    /// The SDK fills in ClientRequestToken and reuses it on its own retries, so DynamoDB
    /// answers a resent transaction that had applied with success, not a lost condition.
    async fn update_and_mark(
        &self,
        key: &SessionKey,
        expr: Expr,
        condition: String,
        marker: &Marker,
        return_old: bool,
    ) -> Result<
        Result<TransactWriteItemsOutput, SdkError<TransactWriteItemsError, HttpResponse>>,
        StoreError,
    > {
        let update = expr.update_expression();
        let (names, values) = expr.into_maps();
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item::session_key(key)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .set_return_values_on_condition_check_failure(
                return_old.then_some(ReturnValuesOnConditionCheckFailure::AllOld),
            )
            .build()
            .map_err(|source| build_error("TransactWriteItems", source))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.marker_item(marker)))
            .build()
            .map_err(|source| build_error("TransactWriteItems", source))?;
        Ok(self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await)
    }

    fn session_ttl(&self, updated_at: DateTime<Utc>) -> i64 {
        epoch_seconds(updated_at + self.settings.session_ttl)
    }

    /// Reads items by key (consistently), repeating unprocessed keys a few times.
    async fn batch_get(
        &self,
        mut keys: Vec<Item>,
        what: &'static str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::with_capacity(keys.len());
        let mut backoff = BATCH_GET_BACKOFF;
        for round in 1..=BATCH_GET_ROUNDS {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
                .map_err(|source| {
                    StoreError::Other(Box::new(RequestError::Build {
                        operation: "BatchGetItem",
                        source: source.into(),
                    }))
                })?;
            let mut output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|error| store_error(error, what))?;
            if let Some(mut responses) = output.responses.take() {
                items.extend(responses.remove(&self.table).unwrap_or_default());
            }
            keys = output
                .unprocessed_keys
                .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                .map(|rest| rest.keys)
                .unwrap_or_default();
            if keys.is_empty() {
                return Ok(items);
            }
            if round < BATCH_GET_ROUNDS {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Err(StoreError::Throttled(Box::new(UnprocessedKeys {
            remaining: keys.len(),
            rounds: BATCH_GET_ROUNDS,
        })))
    }
}

/// A session write: the update, its condition, and the version it gives the row.
struct SessionWrite {
    expr: Expr,
    condition: String,
    version: u64,
}

/// Whether `current` is exactly the row this write of `intended` at `version` produced,
/// writer id included (the cursor and the menu are not the writer's to compare). Without a writer id two
/// writers could look identical, so nothing counts as one's own.
fn is_own_write(intended: &Session, version: u64, current: &Session) -> bool {
    intended.writer.is_some()
        && *current
            == Session {
                version,
                relay_cursor: current.relay_cursor.clone(),
                menu: current.menu.clone(),
                ..intended.clone()
            }
}

fn log_lost_put(error: &StoreError, session: &Session, expected: Option<u64>) {
    if matches!(error, StoreError::Conflict { .. }) {
        debug!(customer = %session.key.customer, support = %session.key.support,
                ?expected, "session put lost its condition");
    }
}

fn build_error(
    operation: &'static str,
    source: aws_smithy_types::error::operation::BuildError,
) -> StoreError {
    StoreError::Other(Box::new(RequestError::Build {
        operation,
        source: source.into(),
    }))
}

/// A cancelled transaction's reason codes (`CancellationReason.Code`, one per item).
mod cancellation {
    /// The item's condition failed.
    pub(super) const CONDITION_FAILED: &str = "ConditionalCheckFailed";
    /// Throttled, on the table or the account.
    pub(super) const THROTTLED: &[&str] = &["ThrottlingError", "ProvisionedThroughputExceeded"];
    /// Another transaction holds the item; retrying succeeds.
    pub(super) const CONFLICT: &str = "TransactionConflict";
}

/// What a cancelled transaction whose first item is the session update means: the session
/// condition lost ([`Conditional::Lost`], with the row as it is), or a port error by the
/// other items' reasons.
fn cancelled_outcome(error: TransactWriteItemsError) -> Result<Conditional, StoreError> {
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = error else {
        // Not reached: callers pass cancellations only. Its code, never its message.
        return Err(StoreError::Other(Box::new(AwsError::Service {
            code: error.code().unwrap_or("unknown").to_owned(),
            status: 400,
            request_id: error
                .meta()
                .extra("aws_request_id")
                .unwrap_or("unknown")
                .to_owned(),
        })));
    };
    let reasons = cancelled.cancellation_reasons.clone().unwrap_or_default();
    let codes: Vec<String> = reasons
        .iter()
        .map(|reason| reason.code.clone().unwrap_or_default())
        .collect();
    if let Some(first) = reasons.into_iter().next()
        && first.code.as_deref() == Some(cancellation::CONDITION_FAILED)
    {
        return Ok(Conditional::Lost(
            first.item.filter(|item| !item.is_empty()),
        ));
    }
    let cause: BoxError = Box::new(TransactionCancelled {
        codes: codes.clone(),
    });
    let has = |code: &str| codes.iter().any(|c| c == code);
    Err(if cancellation::THROTTLED.iter().any(|code| has(code)) {
        StoreError::Throttled(cause)
    } else if has(cancellation::CONFLICT) {
        StoreError::Transient(cause)
    } else {
        StoreError::Other(cause)
    })
}

/// What a conditional UpdateItem did.
enum Conditional {
    /// The condition held; the item as written.
    Written(Item),
    /// The condition failed; the item as it is (`None`: absent).
    Lost(Option<Item>),
}

impl Conditional {
    /// The written item, or [`StoreError::Conflict`] unless the current item passes
    /// `already_applied` (parsed with `parse`): then this very write had gone through on an
    /// earlier attempt, and its result is the current item.
    fn written_or<T>(
        self,
        what: &'static str,
        parse: impl Fn(&Item) -> Result<T, StoreError>,
        already_applied: impl FnOnce(&T) -> bool,
    ) -> Result<T, StoreError> {
        match self {
            Self::Written(item) => parse(&item),
            Self::Lost(Some(current)) => match parse(&current) {
                Ok(current) if already_applied(&current) => {
                    debug!(
                        what,
                        "conditional write had already applied on an earlier attempt"
                    );
                    Ok(current)
                }
                _ => Err(StoreError::Conflict { what }),
            },
            Self::Lost(None) => Err(StoreError::Conflict { what }),
        }
    }

    /// Whether the condition held.
    fn is_written(&self) -> bool {
        matches!(self, Self::Written(_))
    }
}

/// Maps an SDK error to the port's error; see [`crate::error`] for the classes.
fn store_error<E>(error: SdkError<E, HttpResponse>, what: &'static str) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match classify(&error) {
        Class::Conflict => StoreError::Conflict { what },
        Class::Throttled => StoreError::Throttled(loggable(error)),
        Class::Transient => StoreError::Transient(loggable(error)),
        Class::AccessDenied | Class::Invalid | Class::Other => StoreError::Other(loggable(error)),
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    /// One consistent BatchGetItem for the session and the dedupe marker, so the inbound
    /// resume path costs three calls (this read, SendMessage, the marker write).
    async fn get_with_marker(
        &self,
        key: &SessionKey,
        id: &InboundMessageId,
    ) -> Result<(Option<Session>, Option<bool>), StoreError> {
        let session_pk = item::session_pk(key);
        let now = self.clock.now();
        let mut session = None;
        let mut processed = false;
        let keys = vec![item::session_key(key), item::dedupe_key(id)];
        for found in self.batch_get(keys, "session and marker get").await? {
            let reader = Reader::new(&found);
            if reader.expired(now)? {
                continue;
            }
            if reader.s(PK)? == session_pk {
                session = Some(item::session_from_item(&found)?);
            } else {
                processed = true;
            }
        }
        Ok((session, Some(processed)))
    }

    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::session_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| store_error(error, "session get"))?;
        let Some(found) = output.item else {
            return Ok(None);
        };
        if Reader::new(&found).expired(self.clock.now())? {
            return Ok(None);
        }
        item::session_from_item(&found).map(Some)
    }

    async fn put(&self, session: &Session, expected: Option<u64>) -> Result<Session, StoreError> {
        let write = self.session_write(session, expected);
        let version = write.version;
        self.update(
            item::session_key(&session.key),
            write.expr,
            write.condition,
            "session put",
        )
        .await?
        .written_or("session put", item::session_from_item, |current| {
            is_own_write(session, version, current)
        })
        .inspect_err(|error| log_lost_put(error, session, expected))
    }

    async fn put_marked(
        &self,
        session: &Session,
        expected: Option<u64>,
        marker: &Marker,
    ) -> Result<Session, StoreError> {
        let write = self.session_write(session, expected);
        let version = write.version;
        let sent = self
            .update_and_mark(&session.key, write.expr, write.condition, marker, true)
            .await?;
        let outcome = match sent {
            Ok(_) => {
                return Ok(Session {
                    version,
                    ..session.clone()
                });
            }
            Err(SdkError::ServiceError(context))
                if matches!(
                    context.err(),
                    TransactWriteItemsError::TransactionCanceledException(_)
                ) =>
            {
                cancelled_outcome(context.into_err())?
            }
            Err(error) => return Err(store_error(error, "session put and mark")),
        };
        outcome
            .written_or("session put and mark", item::session_from_item, |current| {
                is_own_write(session, version, current)
            })
            .inspect_err(|error| log_lost_put(error, session, expected))
    }

    async fn mark_resumed(&self, key: &SessionKey, marker: &Marker) -> Result<(), StoreError> {
        let mut expr = Expr::default();
        expr.set(attr::UPDATED_AT, time(marker.at));
        expr.set(TTL, n(self.session_ttl(marker.at)));
        let ttl = expr.name(TTL);
        let now = expr.value("now", n(epoch_seconds(self.clock.now())));
        // Only a live row still on the text's chat: an expired one must not come back, a
        // missing one appear, nor a chat that moved on be stamped with this one's text.
        let mut condition = format!("{ttl} > {now}");
        if let Some(contact_id) = &marker.contact_id {
            let contact = expr.name(attr::CONTACT_ID);
            let expected = expr.value("contact", s(contact_id.as_str()));
            condition = format!("{condition} AND {contact} = {expected}");
        }
        match self
            .update_and_mark(key, expr, condition, marker, false)
            .await?
        {
            Ok(_) => Ok(()),
            // On any failure, throttling too: a marker not written costs the text a second
            // SendMessage on Lambda's retry, so it gets one more attempt on its own.
            Err(error) => {
                let error = store_error(error, "session activity and mark");
                debug!(error = %bridge_core::report::chain(&error), "activity not recorded; marking the text on its own");
                self.mark_processed(&marker.id, marker.contact_id.as_ref(), marker.at)
                    .await
            }
        }
    }

    async fn end_chat(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let mut expr = Expr::default();
        expr.set(attr::STATUS, s(Status::Ended.as_str()));
        expr.set(attr::UPDATED_AT, time(now));
        expr.set(TTL, n(self.session_ttl(now)));
        let version = expr.name(attr::VERSION);
        let one = expr.value("one", n(1));
        expr.set_to(attr::VERSION, format!("{version} + {one}"));
        expr.remove(ACTIVE_SHARD);
        let contact = expr.name(attr::CONTACT_ID);
        let expected_contact = expr.value("contact", s(contact_id.as_str()));
        let status = expr.name(attr::STATUS);
        let ended = expr.value("ended", s(Status::Ended.as_str()));
        let ttl = expr.name(TTL);
        let now = expr.value("now", n(epoch_seconds(self.clock.now())));
        let condition =
            format!("{contact} = {expected_contact} AND {status} <> {ended} AND {ttl} > {now}");
        // Lost: another chat, already ended, or absent; nothing to do in every case.
        match self
            .update(item::session_key(key), expr, condition, "chat end")
            .await?
        {
            Conditional::Written(written) => item::session_from_item(&written).map(Some),
            Conditional::Lost(_) => Ok(None),
        }
    }

    async fn advance_cursor_and_menu(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        item_id: &ItemId,
        menu: &MenuChange,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut expr = Expr::default();
        expr.set(attr::RELAY_CURSOR, s(item_id.as_str()));
        expr.set(attr::RELAY_CURSOR_CONTACT, s(contact_id.as_str()));
        match menu {
            MenuChange::Keep => {}
            MenuChange::Open(options) => {
                let menu = Menu {
                    contact_id: contact_id.clone(),
                    options: options.clone(),
                };
                expr.set(attr::MENU, s(menu.to_json()));
            }
            MenuChange::Close => expr.remove(attr::MENU),
        }
        expr.set(attr::UPDATED_AT, time(now));
        expr.set(TTL, n(self.session_ttl(now)));
        let contact = expr.name(attr::CONTACT_ID);
        let previous = expr.name(attr::PREVIOUS_CONTACT_ID);
        let expected_contact = expr.value("contact", s(contact_id.as_str()));
        let ttl = expr.name(TTL);
        let now = expr.value("now", n(epoch_seconds(self.clock.now())));
        let condition = format!(
            "({contact} = {expected_contact} OR {previous} = {expected_contact}) AND {ttl} > {now}"
        );
        // A resent attempt finds the same contact and succeeds again: no special case.
        Ok(self
            .update(item::session_key(key), expr, condition, "cursor advance")
            .await?
            .is_written())
    }

    async fn active_in_shard(&self, shard: u16) -> Result<Vec<Session>, StoreError> {
        let now = self.clock.now();
        let mut sessions = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(ACTIVE_BY_SHARD)
                .key_condition_expression("#active_shard = :shard")
                .expression_attribute_names("#active_shard", ACTIVE_SHARD)
                .expression_attribute_values(":shard", n(shard))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|error| store_error(error, "shard query"))?;
            for found in output.items.unwrap_or_default() {
                // One bad row must not hide every other session of the shard.
                match live_session(&found, now) {
                    Ok(Some(session)) => sessions.push(session),
                    Ok(None) => {}
                    Err(error) => warn!(shard, error = %error, "skipping corrupt session row"),
                }
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(sessions),
            }
        }
    }
}

#[async_trait]
impl DedupeStore for DynamoStore {
    async fn is_processed(&self, id: &InboundMessageId) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::dedupe_key(id)))
            .consistent_read(true)
            .projection_expression("#pk, #ttl")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#ttl", TTL)
            .send()
            .await
            .map_err(|error| store_error(error, "dedupe get"))?;
        match output.item {
            Some(found) => Ok(!Reader::new(&found).expired(self.clock.now())?),
            None => Ok(false),
        }
    }

    async fn mark_processed(
        &self,
        id: &InboundMessageId,
        contact_id: Option<&ContactId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let marker = self.marker_item(&Marker {
            id: id.clone(),
            contact_id: contact_id.cloned(),
            at: now,
        });
        // Unconditional: marking twice just refreshes the marker.
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(marker))
            .send()
            .await
            .map_err(|error| store_error(error, "dedupe put"))?;
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for DynamoStore {
    async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let now = self.clock.now();
        let shards: Vec<u16> = (0..self.settings.lease_slots.get()).collect();
        let mut leases = Vec::new();
        for chunk in shards.chunks(BATCH_GET_LIMIT) {
            let keys = chunk.iter().map(|shard| item::lease_key(*shard)).collect();
            for found in self.batch_get(keys, "lease list").await? {
                // A bad lease row must not stop the relay from seeing the others.
                match Reader::new(&found).expired(now) {
                    Ok(true) => {}
                    Ok(false) => match item::lease_from_item(&found) {
                        Ok(lease) => leases.push(lease),
                        Err(error) => warn!(error = %error, "skipping corrupt lease row"),
                    },
                    Err(error) => warn!(error = %error, "skipping corrupt lease row"),
                }
            }
        }
        leases.sort_by_key(|lease| lease.shard);
        Ok(leases)
    }

    async fn acquire(
        &self,
        shard: u16,
        owner: &OwnerId,
        previous: Option<&Lease>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Lease, StoreError> {
        let mut expr = lease_extension(expires_at, self.settings.lease_ttl);
        expr.set(attr::OWNER, s(owner.0.as_str()));
        expr.set(attr::SHARD, n(shard));
        let version = expr.name(attr::VERSION);
        let zero = expr.value("zero", n(0));
        let one = expr.value("one", n(1));
        expr.set_to(
            attr::VERSION,
            format!("if_not_exists({version}, {zero}) + {one}"),
        );
        let pk = expr.name(PK);
        let lapse = expr.name(attr::EXPIRES_AT);
        let now = expr.value("now", n(now.timestamp_millis()));
        let mut condition = format!("attribute_not_exists({pk}) OR {lapse} <= {now}");
        if let Some(previous) = previous {
            condition.push_str(&format!(" OR ({})", held_by(&mut expr, previous)));
        }
        let wanted = expires_at.timestamp_millis();
        self.update(item::lease_key(shard), expr, condition, "lease acquire")
            .await?
            .written_or("lease acquire", item::lease_from_item, |current| {
                current.owner == *owner && current.expires_at.timestamp_millis() == wanted
            })
    }

    async fn renew(&self, lease: &Lease, expires_at: DateTime<Utc>) -> Result<Lease, StoreError> {
        let mut expr = lease_extension(expires_at, self.settings.lease_ttl);
        let version = expr.name(attr::VERSION);
        let one = expr.value("one", n(1));
        expr.set_to(attr::VERSION, format!("{version} + {one}"));
        let condition = held_by(&mut expr, lease);
        let wanted = expires_at.timestamp_millis();
        self.update(item::lease_key(lease.shard), expr, condition, "lease renew")
            .await?
            .written_or("lease renew", item::lease_from_item, |current| {
                current.owner == lease.owner
                    && current.version == lease.version.saturating_add(1)
                    && current.expires_at.timestamp_millis() == wanted
            })
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut expr = Expr::default();
        let condition = held_by(&mut expr, lease);
        let (names, values) = expr.into_maps();
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item::lease_key(lease.shard)))
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|error| store_error(error, "lease release"));
        match deleted {
            // A lease that changed hands (or is gone) is not ours to release.
            Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// The session in `found` if it is live (not expired, `starting` or `active`): the index
/// may briefly list a row that has just ended.
fn live_session(found: &Item, now: DateTime<Utc>) -> Result<Option<Session>, StoreError> {
    if Reader::new(found).expired(now)? {
        return Ok(None);
    }
    let session = item::session_from_item(found)?;
    Ok(session.status.is_live().then_some(session))
}

/// `SET expires_at, ttl` for a lease lapsing at `expires_at`.
fn lease_extension(expires_at: DateTime<Utc>, lease_ttl: TimeDelta) -> Expr {
    let mut expr = Expr::default();
    expr.set(attr::EXPIRES_AT, n(expires_at.timestamp_millis()));
    expr.set(TTL, n(epoch_seconds(expires_at + lease_ttl)));
    expr
}

/// The condition "the stored lease is exactly `lease`": same version, same owner.
fn held_by(expr: &mut Expr, lease: &Lease) -> String {
    let version = expr.name(attr::VERSION);
    let owner = expr.name(attr::OWNER);
    let held_version = expr.value("held_version", n(lease.version));
    let held_owner = expr.value("held_owner", s(lease.owner.0.as_str()));
    format!("{version} = {held_version} AND {owner} = {held_owner}")
}
