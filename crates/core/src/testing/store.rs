//! [`MemoryStore`]: sessions, dedupe markers and shard leases in memory ([`SessionStore`],
//! [`DedupeStore`], [`LeaseStore`]).
//!
//! It is held to the store contract the DynamoDB adapter is held to
//! (crates/testkit/src/contract/, run by crates/aws/tests/store_contract.rs), expiry
//! included once it has a clock.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::ids::{ContactId, InboundMessageId, ItemId};
use crate::menu::{Menu, MenuChange};
use crate::ports::{
    Clock, DedupeStore, Lease, LeaseStore, Marker, OwnerId, SessionStore, StoreError,
};
use crate::session::{Cursor, Session, SessionKey, Status};

/// A session expires this long after its last write (`updated_at`): the DynamoDB adapter's
/// default (`DynamoSettings::session_ttl` in `bridge-aws`).
const SESSION_TTL: TimeDelta = TimeDelta::days(30);
/// A dedupe marker expires this long after it was marked (`DynamoSettings::dedupe_ttl`).
const DEDUPE_TTL: TimeDelta = TimeDelta::days(7);
/// A lease is gone from the listing this long after it lapsed (`DynamoSettings::lease_ttl`).
const LEASE_TTL: TimeDelta = TimeDelta::days(1);

/// Sessions, dedupe markers and leases in memory.
#[derive(Default)]
pub struct MemoryStore {
    sessions: Mutex<Sessions>,
    /// When each inbound message was marked processed (its expiry runs from then).
    processed: Mutex<HashMap<InboundMessageId, DateTime<Utc>>>,
    leases: Mutex<HashMap<u16, Lease>>,
    /// What expiry is judged by; `None`: nothing expires.
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.sessions)
            .field("processed", &self.processed)
            .field("leases", &self.leases)
            .field("clock", &self.clock.as_ref().map(|clock| clock.now()))
            .finish()
    }
}

impl MemoryStore {
    /// An empty store in which nothing expires.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same store judging expiry by `clock`, as the DynamoDB adapter does: a session is
    /// absent 30 days after its last write, a dedupe marker 7 days after it was marked, and
    /// a lease is no longer listed a day after it lapsed.
    ///
    /// Without a clock nothing expires: the entry points' tests keep their own clocks at
    /// fixed dates, where every item would be long expired by the real time.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock: Some(clock),
            ..self
        }
    }

    /// Now, for expiry.
    fn now(&self) -> Now {
        Now(self.clock.as_ref().map(|clock| clock.now()))
    }

    /// Every session, for assertions.
    pub fn sessions(&self) -> Vec<Session> {
        self.sessions
            .lock()
            .unwrap()
            .rows
            .values()
            .cloned()
            .collect()
    }
}

/// The session rows, and the keys of each shard's rows: like the `active_by_shard` index,
/// listing a shard costs that shard's rows, not the table's (the relay benchmark keeps
/// 10,000 sessions here and lists every shard every second).
#[derive(Debug, Default)]
struct Sessions {
    rows: HashMap<SessionKey, Session>,
    by_shard: HashMap<u16, HashSet<SessionKey>>,
}

impl Sessions {
    /// The row of `key` unless it has expired.
    fn live(&self, key: &SessionKey, now: Now) -> Option<&Session> {
        self.rows.get(key).filter(|row| now.is_live(row))
    }

    /// [`Self::live`], to change it in place (the index is unchanged: callers keep the shard).
    fn live_mut(&mut self, key: &SessionKey, now: Now) -> Option<&mut Session> {
        self.rows.get_mut(key).filter(|row| now.is_live(row))
    }

    fn insert(&mut self, session: Session) {
        let moved_from = self
            .rows
            .get(&session.key)
            .map(|old| old.shard)
            .filter(|&shard| shard != session.shard);
        if let Some(keys) = moved_from.and_then(|shard| self.by_shard.get_mut(&shard)) {
            keys.remove(&session.key);
        }
        self.by_shard
            .entry(session.shard)
            .or_default()
            .insert(session.key.clone());
        self.rows.insert(session.key.clone(), session);
    }
}

/// The time expiry is judged by, read once per call; `None` when the store has no clock.
#[derive(Clone, Copy, Debug)]
struct Now(Option<DateTime<Utc>>);

impl Now {
    /// Whether an item that lives until `until` is gone: in whole seconds, as DynamoDB's
    /// `ttl` attribute holds it, and gone from that second on, as the adapter judges it.
    fn has_passed(self, until: DateTime<Utc>) -> bool {
        self.0
            .is_some_and(|now| until.timestamp() <= now.timestamp())
    }

    /// Whether a session row has not expired.
    fn is_live(self, session: &Session) -> bool {
        !self.has_passed(session.updated_at + SESSION_TTL)
    }
}

/// The conditional session write of [`SessionStore::put`].
fn put_row(
    sessions: &mut Sessions,
    session: &Session,
    expected: Option<u64>,
    now: Now,
) -> Result<Session, StoreError> {
    let stored = sessions.rows.get(&session.key);
    let mut next = session.clone();
    next.version = expected.map_or(1, |v| v + 1);
    // The relay owns the cursor and the menu: keep what is stored (an expired row's too,
    // as the adapter's update of the item leaves them).
    next.relay_cursor = stored.and_then(|s| s.relay_cursor.clone());
    next.menu = stored.and_then(|s| s.menu.clone());
    // The adapter's conditions: a create needs no row or an expired one; an update, the
    // expected version.
    let holds = match expected {
        None => stored.is_none_or(|s| !now.is_live(s)),
        Some(expected) => stored.is_some_and(|s| s.version == expected),
    };
    if !holds {
        // A repeat of the write that made the stored row is not a conflict.
        return match stored {
            Some(stored) if session.writer.is_some() && *stored == next => Ok(next),
            _ => Err(StoreError::Conflict {
                what: "session put",
            }),
        };
    }
    sessions.insert(next.clone());
    Ok(next)
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let now = self.now();
        Ok(self.sessions.lock().unwrap().live(key, now).cloned())
    }

    async fn put(&self, session: &Session, expected: Option<u64>) -> Result<Session, StoreError> {
        let now = self.now();
        put_row(&mut self.sessions.lock().unwrap(), session, expected, now)
    }

    async fn get_with_marker(
        &self,
        key: &SessionKey,
        id: &InboundMessageId,
    ) -> Result<(Option<Session>, Option<bool>), StoreError> {
        let session = self.get(key).await?;
        let processed = self.is_processed(id).await?;
        Ok((session, Some(processed)))
    }

    async fn put_marked(
        &self,
        session: &Session,
        expected: Option<u64>,
        marker: &Marker,
    ) -> Result<Session, StoreError> {
        // Both locks for the whole write, sessions first (the order everywhere), so no
        // reader sees the row without its marker.
        let now = self.now();
        let mut sessions = self.sessions.lock().unwrap();
        let mut processed = self.processed.lock().unwrap();
        let stored = put_row(&mut sessions, session, expected, now)?;
        processed.insert(marker.id.clone(), marker.at);
        Ok(stored)
    }

    async fn end_chat(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let expiry = self.now();
        let mut sessions = self.sessions.lock().unwrap();
        let Some(session) = sessions.live_mut(key, expiry) else {
            return Ok(None);
        };
        if session.status == Status::Ended || session.contact_id() != Some(contact_id) {
            return Ok(None);
        }
        session.status = Status::Ended;
        session.version += 1;
        session.updated_at = now;
        Ok(Some(session.clone()))
    }

    async fn advance_cursor_and_menu(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        item: &ItemId,
        menu: &MenuChange,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let expiry = self.now();
        let mut sessions = self.sessions.lock().unwrap();
        let Some(session) = sessions.live_mut(key, expiry) else {
            return Ok(false);
        };
        if session.contact_id() != Some(contact_id)
            && session.previous_contact_id.as_ref() != Some(contact_id)
        {
            return Ok(false);
        }
        session.relay_cursor = Some(Cursor {
            contact_id: contact_id.clone(),
            item_id: item.clone(),
        });
        match menu {
            MenuChange::Keep => {}
            MenuChange::Open(options) => {
                session.menu = Some(Menu {
                    contact_id: contact_id.clone(),
                    options: options.clone(),
                });
            }
            MenuChange::Close => session.menu = None,
        }
        session.updated_at = now;
        Ok(true)
    }

    async fn mark_resumed(&self, key: &SessionKey, marker: &Marker) -> Result<(), StoreError> {
        let now = self.now();
        // Only a live row (an expired one must not come back), of the marker's chat when it
        // names one.
        if let Some(row) = self.sessions.lock().unwrap().live_mut(key, now)
            && marker
                .contact_id
                .as_ref()
                .is_none_or(|contact| row.contact_id() == Some(contact))
        {
            row.updated_at = marker.at;
        }
        self.mark_processed(&marker.id, marker.contact_id.as_ref(), marker.at)
            .await
    }

    async fn active_in_shard(&self, shard: u16) -> Result<Vec<Session>, StoreError> {
        let now = self.now();
        let sessions = self.sessions.lock().unwrap();
        Ok(sessions
            .by_shard
            .get(&shard)
            .into_iter()
            .flatten()
            .filter_map(|key| sessions.live(key, now))
            .filter(|s| s.status.is_live())
            .cloned()
            .collect())
    }
}

#[async_trait]
impl DedupeStore for MemoryStore {
    async fn is_processed(&self, id: &InboundMessageId) -> Result<bool, StoreError> {
        let now = self.now();
        Ok(self
            .processed
            .lock()
            .unwrap()
            .get(id)
            .is_some_and(|&marked| !now.has_passed(marked + DEDUPE_TTL)))
    }

    async fn mark_processed(
        &self,
        id: &InboundMessageId,
        _contact_id: Option<&ContactId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Marking again refreshes the marker, as the adapter's unconditional put does.
        self.processed.lock().unwrap().insert(id.clone(), now);
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for MemoryStore {
    /// In shard order, as the adapter lists them.
    async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let now = self.now();
        let mut leases: Vec<Lease> = self
            .leases
            .lock()
            .unwrap()
            .values()
            .filter(|lease| !now.has_passed(lease.expires_at + LEASE_TTL))
            .cloned()
            .collect();
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
        let mut leases = self.leases.lock().unwrap();
        let version = match leases.get(&shard) {
            None => 1,
            Some(stored) if stored.expires_at <= now || Some(stored) == previous => {
                stored.version + 1
            }
            // A repeat of the acquire that made the stored lease.
            Some(stored) if stored.owner == *owner && stored.expires_at == expires_at => {
                return Ok(stored.clone());
            }
            Some(_) => {
                return Err(StoreError::Conflict {
                    what: "lease acquire",
                });
            }
        };
        let lease = Lease {
            shard,
            owner: owner.clone(),
            expires_at,
            version,
        };
        leases.insert(shard, lease.clone());
        Ok(lease)
    }

    async fn renew(&self, lease: &Lease, expires_at: DateTime<Utc>) -> Result<Lease, StoreError> {
        let mut leases = self.leases.lock().unwrap();
        match leases.get(&lease.shard) {
            Some(stored) if stored == lease => {
                let renewed = Lease {
                    expires_at,
                    version: lease.version + 1,
                    ..lease.clone()
                };
                leases.insert(lease.shard, renewed.clone());
                Ok(renewed)
            }
            // A repeat of this very renewal.
            Some(stored)
                if stored.owner == lease.owner
                    && stored.version == lease.version + 1
                    && stored.expires_at == expires_at =>
            {
                Ok(stored.clone())
            }
            _ => Err(StoreError::Conflict {
                what: "lease renew",
            }),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut leases = self.leases.lock().unwrap();
        if leases.get(&lease.shard) == Some(lease) {
            leases.remove(&lease.shard);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::ids::{ConnectionToken, ParticipantId, ParticipantToken};
    use crate::phone::PhoneNumber;
    use crate::ports::Connection;
    use crate::session::Chat;
    use crate::testing::{ManualClock, block};

    fn key() -> SessionKey {
        SessionKey::new(
            PhoneNumber::parse("+15550100002").unwrap(),
            PhoneNumber::parse("+18005550100").unwrap(),
        )
    }

    fn chat(contact: &str) -> Chat {
        Chat {
            contact_id: ContactId::new(contact).unwrap(),
            participant_id: ParticipantId::new("p").unwrap(),
            participant_token: ParticipantToken::new("pt").unwrap(),
            connection: Connection {
                token: ConnectionToken::new("ct").unwrap(),
                expires_at: Utc::now(),
            },
        }
    }

    #[test]
    fn only_one_of_two_racing_creates_wins() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let row = Session {
            writer: Some("w-1".into()),
            ..Session::first(key(), 0, now)
        };
        // The rival's row is identical but for its writer id: still a rival, not a repeat.
        let rival = Session {
            writer: Some("w-2".into()),
            ..row.clone()
        };
        assert!(block(store.put(&row, None)).is_ok());
        assert!(matches!(
            block(store.put(&rival, None)),
            Err(StoreError::Conflict { .. })
        ));
        // Without a writer id nothing can be recognised as a repeat.
        let anonymous = Session {
            writer: None,
            ..row.clone()
        };
        assert!(matches!(
            block(store.put(&anonymous, None)),
            Err(StoreError::Conflict { .. })
        ));
        // The same writer's repeat is its own earlier success.
        assert!(block(store.put(&row, None)).is_ok());
    }

    #[test]
    fn repeating_an_applied_put_or_lease_write_is_not_a_conflict() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let row = Session {
            writer: Some("w-1".into()),
            ..Session::first(key(), 0, now)
        };
        let first = block(store.put(&row, None)).unwrap();
        assert_eq!(block(store.put(&row, None)).unwrap(), first);
        let other = Session::first(key(), 1, now);
        assert!(matches!(
            block(store.put(&other, None)),
            Err(StoreError::Conflict { .. })
        ));
        let owner = OwnerId("a".into());
        let until = now + TimeDelta::seconds(15);
        let lease = block(store.acquire(2, &owner, None, now, until)).unwrap();
        assert_eq!(
            block(store.acquire(2, &owner, None, now, until)).unwrap(),
            lease
        );
        let later = until + TimeDelta::seconds(5);
        let renewed = block(store.renew(&lease, later)).unwrap();
        assert_eq!(block(store.renew(&lease, later)).unwrap(), renewed);
        assert!(block(store.renew(&lease, later + TimeDelta::seconds(1))).is_err());
    }

    #[test]
    fn put_keeps_the_relays_cursor_and_bumps_the_version() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let row = block(store.put(&Session::first(key(), 0, now), None)).unwrap();
        let active = block(store.put(&row.activated(chat("c-1"), now), Some(row.version))).unwrap();
        assert_eq!(active.version, 2);
        let contact = ContactId::new("c-1").unwrap();
        assert!(
            block(store.advance_cursor(&key(), &contact, &ItemId::new("i-1").unwrap(), now))
                .unwrap()
        );
        // A write from a stale read must not roll the cursor back.
        let refreshed = block(store.put(&active.with_opt_out(false, now), Some(2))).unwrap();
        assert_eq!(
            refreshed.cursor_for_current_chat().map(ItemId::as_str),
            Some("i-1")
        );
    }

    #[test]
    fn end_chat_only_ends_the_current_chat() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let row = block(store.put(&Session::first(key(), 5, now), None)).unwrap();
        block(store.put(&row.activated(chat("c-2"), now), Some(1))).unwrap();
        let old = ContactId::new("c-1").unwrap();
        assert!(block(store.end_chat(&key(), &old, now)).unwrap().is_none());
        assert_eq!(block(store.active_in_shard(5)).unwrap().len(), 1);
        let current = ContactId::new("c-2").unwrap();
        let ended = block(store.end_chat(&key(), &current, now))
            .unwrap()
            .unwrap();
        assert_eq!(ended.status, Status::Ended);
        assert!(block(store.active_in_shard(5)).unwrap().is_empty());
    }

    #[test]
    fn expired_lease_can_be_taken_and_live_one_cannot() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let a = OwnerId("a".into());
        let b = OwnerId("b".into());
        let lease = block(store.acquire(1, &a, None, now, now + TimeDelta::seconds(15))).unwrap();
        assert!(block(store.acquire(1, &b, None, now, now + TimeDelta::seconds(15))).is_err());
        let later = now + TimeDelta::seconds(16);
        let taken =
            block(store.acquire(1, &b, None, later, later + TimeDelta::seconds(15))).unwrap();
        assert_eq!(taken.owner, b);
        assert!(
            block(store.renew(&lease, later)).is_err(),
            "a lost the lease"
        );
    }

    /// The store contract holds the clocked store to the adapter's expiry
    /// (crates/aws/tests/store_contract.rs); this is the clockless default, which the
    /// entry points' tests rely on, next to the same writes on a clock.
    #[test]
    fn items_expire_only_on_a_clock() {
        let now = Utc::now();
        let clock = Arc::new(ManualClock::new(now));
        let clocked = MemoryStore::new().with_clock(clock.clone());
        let clockless = MemoryStore::new();
        let id = InboundMessageId::new("msg-1").unwrap();
        let owner = OwnerId("a".into());
        for store in [&clocked, &clockless] {
            block(store.put(&Session::first(key(), 0, now), None)).unwrap();
            block(store.mark_processed(&id, None, now)).unwrap();
            block(store.acquire(1, &owner, None, now, now + TimeDelta::seconds(15))).unwrap();
        }
        clock.advance(TimeDelta::days(31));
        assert_eq!(block(clocked.get(&key())).unwrap(), None);
        assert!(!block(clocked.is_processed(&id)).unwrap());
        assert!(block(clocked.leases()).unwrap().is_empty());
        assert!(block(clockless.get(&key())).unwrap().is_some());
        assert!(block(clockless.is_processed(&id)).unwrap());
        assert_eq!(block(clockless.leases()).unwrap().len(), 1);
    }
}
