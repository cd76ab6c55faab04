//! The relay process's stand-in for DynamoDB: sessions kept per shard, like the
//! `active_by_shard` index, so listing one shard costs that shard's rows (core's
//! `MemoryStore`, written for domain tests, scans every session under one lock, which at
//! 10,000 sessions would make the benchmark measure the stand-in). Leases are delegated to
//! `MemoryStore`. Same contracts as the ports: versions, conditional writes, the relay's
//! cursor kept across `put`.

use std::collections::HashMap;
use std::num::NonZeroU16;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bridge_core::ids::{ContactId, ItemId};
use bridge_core::ports::{Lease, LeaseStore, OwnerId, SessionStore, StoreError};
use bridge_core::session::{Cursor, Session, SessionKey, Status};
use bridge_core::testing::MemoryStore;
use chrono::{DateTime, Utc};

/// Sessions by shard, leases in memory.
pub struct ShardedStore {
    count: NonZeroU16,
    shards: Vec<Mutex<HashMap<SessionKey, Session>>>,
    leases: MemoryStore,
}

impl ShardedStore {
    /// A store for `count` shards.
    pub fn new(count: NonZeroU16) -> Self {
        Self {
            count,
            shards: (0..count.get())
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            leases: MemoryStore::new(),
        }
    }

    fn shard(&self, shard: u16) -> MutexGuard<'_, HashMap<SessionKey, Session>> {
        let index = usize::from(shard) % self.shards.len();
        // No guard is held across an await; a poisoned map is still consistent.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The shard holding `key` (sessions live in the shard of their key).
    fn find(&self, key: &SessionKey) -> Option<MutexGuard<'_, HashMap<SessionKey, Session>>> {
        Some(self.shard(key.shard(self.count)))
    }
}

#[async_trait]
impl SessionStore for ShardedStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        Ok(self
            .find(key)
            .and_then(|sessions| sessions.get(key).cloned()))
    }

    async fn put(&self, session: &Session, expected: Option<u64>) -> Result<Session, StoreError> {
        let mut sessions = self.shard(session.shard);
        let stored = sessions.get(&session.key);
        if stored.map(|s| s.version) != expected {
            return Err(StoreError::Conflict {
                what: "session put",
            });
        }
        let mut next = session.clone();
        next.version = expected.map_or(1, |v| v + 1);
        next.relay_cursor = stored.and_then(|s| s.relay_cursor.clone());
        sessions.insert(session.key.clone(), next.clone());
        Ok(next)
    }

    async fn end_chat(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let Some(mut sessions) = self.find(key) else {
            return Ok(None);
        };
        let Some(session) = sessions.get_mut(key) else {
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

    async fn advance_cursor(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        item: &ItemId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(mut sessions) = self.find(key) else {
            return Ok(false);
        };
        let Some(session) = sessions.get_mut(key) else {
            return Ok(false);
        };
        if session.contact_id() != Some(contact_id) {
            return Ok(false);
        }
        session.relay_cursor = Some(Cursor {
            contact_id: contact_id.clone(),
            item_id: item.clone(),
        });
        session.updated_at = now;
        Ok(true)
    }

    async fn active_in_shard(&self, shard: u16) -> Result<Vec<Session>, StoreError> {
        Ok(self
            .shard(shard)
            .values()
            .filter(|session| session.status.is_live())
            .cloned()
            .collect())
    }
}

#[async_trait]
impl LeaseStore for ShardedStore {
    async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        self.leases.leases().await
    }

    async fn acquire(
        &self,
        shard: u16,
        owner: &OwnerId,
        previous: Option<&Lease>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Lease, StoreError> {
        self.leases
            .acquire(shard, owner, previous, now, expires_at)
            .await
    }

    async fn renew(&self, lease: &Lease, expires_at: DateTime<Utc>) -> Result<Lease, StoreError> {
        self.leases.renew(lease, expires_at).await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.leases.release(lease).await
    }
}
