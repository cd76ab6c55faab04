//! [`MemoryStore`]: sessions, dedupe markers and shard leases in memory ([`SessionStore`],
//! [`DedupeStore`], [`LeaseStore`]).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{ContactId, InboundMessageId, ItemId};
use crate::menu::{Menu, MenuChange};
use crate::ports::{DedupeStore, Lease, LeaseStore, Marker, OwnerId, SessionStore, StoreError};
use crate::session::{Cursor, Session, SessionKey, Status};

/// Sessions, dedupe markers and leases in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: Mutex<Sessions>,
    processed: Mutex<HashMap<InboundMessageId, Option<ContactId>>>,
    leases: Mutex<HashMap<u16, Lease>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
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

/// The conditional session write of [`SessionStore::put`].
fn put_row(
    sessions: &mut Sessions,
    session: &Session,
    expected: Option<u64>,
) -> Result<Session, StoreError> {
    let stored = sessions.rows.get(&session.key);
    let mut next = session.clone();
    next.version = expected.map_or(1, |v| v + 1);
    // The relay owns the cursor and the menu: keep what is stored.
    next.relay_cursor = stored.and_then(|s| s.relay_cursor.clone());
    next.menu = stored.and_then(|s| s.menu.clone());
    if stored.map(|s| s.version) != expected {
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
        Ok(self.sessions.lock().unwrap().rows.get(key).cloned())
    }

    async fn put(&self, session: &Session, expected: Option<u64>) -> Result<Session, StoreError> {
        put_row(&mut self.sessions.lock().unwrap(), session, expected)
    }

    async fn get_with_marker(
        &self,
        key: &SessionKey,
        id: &InboundMessageId,
    ) -> Result<(Option<Session>, Option<bool>), StoreError> {
        let session = self.sessions.lock().unwrap().rows.get(key).cloned();
        let processed = self.processed.lock().unwrap().contains_key(id);
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
        let mut sessions = self.sessions.lock().unwrap();
        let mut processed = self.processed.lock().unwrap();
        let stored = put_row(&mut sessions, session, expected)?;
        processed.insert(marker.id.clone(), marker.contact_id.clone());
        Ok(stored)
    }

    async fn end_chat(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let mut sessions = self.sessions.lock().unwrap();
        let Some(session) = sessions.rows.get_mut(key) else {
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
        let mut sessions = self.sessions.lock().unwrap();
        let Some(session) = sessions.rows.get_mut(key) else {
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
        if let Some(row) = self.sessions.lock().unwrap().rows.get_mut(key)
            && row.contact_id() == marker.contact_id.as_ref()
        {
            row.updated_at = marker.at;
        }
        self.mark_processed(&marker.id, marker.contact_id.as_ref(), marker.at)
            .await
    }

    async fn active_in_shard(&self, shard: u16) -> Result<Vec<Session>, StoreError> {
        let sessions = self.sessions.lock().unwrap();
        Ok(sessions
            .by_shard
            .get(&shard)
            .into_iter()
            .flatten()
            .filter_map(|key| sessions.rows.get(key))
            .filter(|s| s.status.is_live())
            .cloned()
            .collect())
    }
}

#[async_trait]
impl DedupeStore for MemoryStore {
    async fn is_processed(&self, id: &InboundMessageId) -> Result<bool, StoreError> {
        Ok(self.processed.lock().unwrap().contains_key(id))
    }

    async fn mark_processed(
        &self,
        id: &InboundMessageId,
        contact_id: Option<&ContactId>,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.processed
            .lock()
            .unwrap()
            .insert(id.clone(), contact_id.cloned());
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for MemoryStore {
    async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        Ok(self.leases.lock().unwrap().values().cloned().collect())
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
    use crate::testing::block;

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
}
