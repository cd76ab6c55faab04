//! The socket registry and `aws/chat` fan-out.
//!
//! Each open participant socket has one bounded queue of ready-to-send frames (capacity
//! [`crate::SimConfig::socket_buffer`]) and a one-shot kill switch. A broadcast renders the
//! frame once and `try_send`s a reference-counted copy to every subscribed socket of the
//! chat, so fan-out costs one atomic increment per socket and never waits. A socket whose
//! queue is full is a slow consumer: it is closed and counted, so one stuck client cannot
//! hold memory or delay the others. The hub lives under the same lock as the model, so frames
//! are queued in transcript order (docs/connect-chat.md §5.5).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::model::ids::{ContactId, ParticipantId};
use crate::model::item::Item;
use crate::model::{Effect, SocketGrant};

/// Identifies one registered socket.
pub type SocketId = u64;

/// Why the hub closes a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// Send what is queued, then close with 1000 (the chat ended).
    Drain,
    /// Close now with a close frame (code, reason).
    Close(u16, &'static str),
    /// Drop the connection without a close frame (`/sim/sockets/drop`).
    Abort,
}

/// Close code and reason for a socket replaced by its participant's newest one.
pub const REPLACED: Kill = Kill::Close(1000, "too many connections: replaced by a newer one");
/// Close code and reason for a slow consumer.
pub const SLOW_CONSUMER: Kill = Kill::Close(1008, "slow consumer: send queue full");
/// Close code and reason on `/sim/reset`.
pub const RESET: Kill = Kill::Close(1001, "emulator reset");

/// What a socket task receives when it registers.
#[derive(Debug)]
pub struct SocketHandle {
    /// Registry id.
    pub id: SocketId,
    /// The contact.
    pub contact: ContactId,
    /// Frames to send.
    pub frames: mpsc::Receiver<Utf8Bytes>,
    /// Fires once when the hub wants the socket closed.
    pub kill: oneshot::Receiver<Kill>,
}

#[derive(Debug)]
struct Entry {
    contact: ContactId,
    participant: ParticipantId,
    frames: mpsc::Sender<Utf8Bytes>,
    kill: Option<oneshot::Sender<Kill>>,
    subscribed: bool,
}

/// Counters shared by the hub and the socket tasks (`/sim/stats`).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Sockets accepted.
    pub sockets_opened_total: AtomicU64,
    /// WebSocket URLs refused (unknown, used, expired, ended).
    pub sockets_refused_total: AtomicU64,
    /// Sockets closed because their queue was full.
    pub slow_consumer_closes_total: AtomicU64,
    /// Sockets closed because their participant opened one too many.
    pub sockets_replaced_total: AtomicU64,
    /// `aws/chat` frames queued to sockets.
    pub chat_frames_queued_total: AtomicU64,
    /// Frames written to sockets (chat frames and replies).
    pub frames_sent_total: AtomicU64,
    /// Heartbeats answered.
    pub heartbeats_total: AtomicU64,
    /// Sockets closed for idleness.
    pub idle_closes_total: AtomicU64,
}

/// Socket counts for `/sim/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HubStats {
    /// Registered sockets.
    pub sockets_open: usize,
    /// Of which subscribed to `aws/chat`.
    pub sockets_subscribed: usize,
}

/// The registry.
#[derive(Debug)]
pub struct Hub {
    next_id: SocketId,
    sockets: HashMap<SocketId, Entry>,
    by_contact: HashMap<ContactId, Vec<SocketId>>,
    by_participant: HashMap<ParticipantId, VecDeque<SocketId>>,
    capacity: usize,
    max_per_participant: usize,
    subscribed: usize,
    metrics: Arc<Metrics>,
}

impl Hub {
    /// An empty registry.
    #[must_use]
    pub fn new(capacity: usize, max_per_participant: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            next_id: 0,
            sockets: HashMap::new(),
            by_contact: HashMap::new(),
            by_participant: HashMap::new(),
            capacity: capacity.max(1),
            max_per_participant: max_per_participant.max(1),
            subscribed: 0,
            metrics,
        }
    }

    /// Registers an accepted socket; closes the participant's oldest socket when this one
    /// exceeds the per-participant limit (§6.4, emulator decision).
    pub fn register(&mut self, grant: SocketGrant) -> SocketHandle {
        self.next_id += 1;
        let id = self.next_id;
        let (frames_tx, frames_rx) = mpsc::channel(self.capacity);
        let (kill_tx, kill_rx) = oneshot::channel();
        let owned = self
            .by_participant
            .entry(grant.participant.clone())
            .or_default();
        owned.push_back(id);
        let mut evict = Vec::new();
        while owned.len() > self.max_per_participant {
            if let Some(old) = owned.pop_front() {
                evict.push(old);
            }
        }
        self.by_contact
            .entry(grant.contact.clone())
            .or_default()
            .push(id);
        self.sockets.insert(
            id,
            Entry {
                contact: grant.contact.clone(),
                participant: grant.participant,
                frames: frames_tx,
                kill: Some(kill_tx),
                subscribed: false,
            },
        );
        for old in evict {
            self.metrics
                .sockets_replaced_total
                .fetch_add(1, Ordering::Relaxed);
            self.remove(old, Some(REPLACED));
        }
        self.metrics
            .sockets_opened_total
            .fetch_add(1, Ordering::Relaxed);
        SocketHandle {
            id,
            contact: grant.contact,
            frames: frames_rx,
            kill: kill_rx,
        }
    }

    /// Marks a socket subscribed to `aws/chat`; false if the hub already let it go.
    pub fn subscribe(&mut self, id: SocketId) -> bool {
        match self.sockets.get_mut(&id) {
            Some(entry) => {
                if !entry.subscribed {
                    entry.subscribed = true;
                    self.subscribed += 1;
                }
                true
            }
            None => false,
        }
    }

    /// Marks a socket unsubscribed.
    pub fn unsubscribe(&mut self, id: SocketId) {
        if let Some(entry) = self.sockets.get_mut(&id)
            && entry.subscribed
        {
            entry.subscribed = false;
            self.subscribed -= 1;
        }
    }

    /// Forgets a socket whose task ended.
    pub fn unregister(&mut self, id: SocketId) {
        self.remove(id, None);
    }

    /// Applies the model's effects in order.
    pub fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Broadcast { contact, item } => self.broadcast(&contact, &item),
                Effect::CloseSockets { contact } => self.close_contact(&contact, Kill::Drain),
                // Routed to the archive writer by `Shared::mutate`, never here.
                Effect::Archive(_) => {}
            }
        }
    }

    /// Kills every socket (reset, `/sim/sockets/drop`); returns how many.
    pub fn kill_all(&mut self, kill: Kill) -> usize {
        let ids: Vec<SocketId> = self.sockets.keys().copied().collect();
        let count = ids.len();
        for id in ids {
            self.remove(id, Some(kill));
        }
        count
    }

    /// Sockets of `contact` subscribed to `aws/chat`.
    #[must_use]
    pub fn subscribers(&self, contact: &ContactId) -> usize {
        self.by_contact.get(contact).map_or(0, |ids| {
            ids.iter()
                .filter(|id| self.sockets.get(id).is_some_and(|e| e.subscribed))
                .count()
        })
    }

    /// Socket counts.
    #[must_use]
    pub fn stats(&self) -> HubStats {
        HubStats {
            sockets_open: self.sockets.len(),
            sockets_subscribed: self.subscribed,
        }
    }

    fn broadcast(&mut self, contact: &ContactId, item: &Item) {
        let Some(ids) = self.by_contact.get(contact) else {
            return;
        };
        let frame = chat_frame(item);
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        let mut queued = 0u64;
        for id in ids {
            let Some(entry) = self.sockets.get(id) else {
                continue;
            };
            if !entry.subscribed {
                continue;
            }
            match entry.frames.try_send(frame.clone()) {
                Ok(()) => queued += 1,
                Err(mpsc::error::TrySendError::Full(_)) => slow.push(*id),
                Err(mpsc::error::TrySendError::Closed(_)) => gone.push(*id),
            }
        }
        self.metrics
            .chat_frames_queued_total
            .fetch_add(queued, Ordering::Relaxed);
        for id in slow {
            tracing::warn!(%contact, socket = id, "closing slow websocket consumer");
            self.metrics
                .slow_consumer_closes_total
                .fetch_add(1, Ordering::Relaxed);
            self.remove(id, Some(SLOW_CONSUMER));
        }
        for id in gone {
            self.remove(id, None);
        }
    }

    fn close_contact(&mut self, contact: &ContactId, kill: Kill) {
        let ids = self.by_contact.get(contact).cloned().unwrap_or_default();
        for id in ids {
            self.remove(id, Some(kill));
        }
    }

    /// Removes a socket; dropping its frame sender ends the task's queue after the frames
    /// already in it.
    fn remove(&mut self, id: SocketId, kill: Option<Kill>) {
        let Some(mut entry) = self.sockets.remove(&id) else {
            return;
        };
        if entry.subscribed {
            self.subscribed -= 1;
        }
        if let (Some(kill), Some(switch)) = (kill, entry.kill.take()) {
            // The task may already be gone; then there is nobody to tell.
            let _ = switch.send(kill);
        }
        if let Some(list) = self.by_contact.get_mut(&entry.contact) {
            list.retain(|x| *x != id);
            if list.is_empty() {
                self.by_contact.remove(&entry.contact);
            }
        }
        if let Some(list) = self.by_participant.get_mut(&entry.participant) {
            list.retain(|x| *x != id);
            if list.is_empty() {
                self.by_participant.remove(&entry.participant);
            }
        }
    }
}

/// Renders `{"topic":"aws/chat","contentType":"application/json","content":"<item JSON>"}`
/// (§5.2; `contentType` is an emulator decision).
#[must_use]
pub fn chat_frame(item: &Item) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Frame<'a> {
        topic: &'static str,
        #[serde(rename = "contentType")]
        content_type: &'static str,
        content: &'a str,
    }
    // Serializing plain strings and derived structs cannot fail.
    let content = serde_json::to_string(item).unwrap_or_default();
    let frame = serde_json::to_string(&Frame {
        topic: "aws/chat",
        content_type: "application/json",
        content: &content,
    })
    .unwrap_or_default();
    Utf8Bytes::from(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::item::{ItemType, Role};

    fn grant(contact: &str, participant: &str) -> SocketGrant {
        SocketGrant {
            contact: ContactId::from_client(contact),
            participant: ParticipantId::from_client(participant),
        }
    }

    fn item(text: &str) -> Item {
        Item {
            absolute_time: "2024-01-01T00:00:00.000Z".into(),
            content: Some(text.into()),
            content_type: Some("text/plain".into()),
            id: "i".into(),
            item_type: ItemType::Message,
            participant_id: None,
            display_name: None,
            participant_role: Some(Role::Agent),
            message_metadata: None,
            related_contact_id: None,
            contact_id: Some("c".into()),
            initial_contact_id: Some("c".into()),
        }
    }

    fn broadcast(hub: &mut Hub, contact: &str, text: &str) {
        hub.apply(vec![Effect::Broadcast {
            contact: ContactId::from_client(contact),
            item: Box::new(item(text)),
        }]);
    }

    #[test]
    fn only_subscribed_sockets_of_the_chat_receive_frames() {
        let mut hub = Hub::new(8, 5, Arc::default());
        let mut a = hub.register(grant("c", "p1"));
        let mut b = hub.register(grant("c", "p2"));
        let mut other = hub.register(grant("d", "p3"));
        assert!(hub.subscribe(a.id));
        assert!(hub.subscribe(other.id));
        broadcast(&mut hub, "c", "hello");
        let frame = a.frames.try_recv().expect("subscribed socket gets it");
        let value: serde_json::Value = serde_json::from_str(frame.as_str()).expect("json");
        assert_eq!(value["topic"], "aws/chat");
        let content: serde_json::Value =
            serde_json::from_str(value["content"].as_str().expect("string content")).expect("item");
        assert_eq!(content["Content"], "hello");
        assert!(b.frames.try_recv().is_err(), "not subscribed");
        assert!(other.frames.try_recv().is_err(), "other chat");
    }

    #[test]
    fn sixth_socket_of_a_participant_closes_the_oldest() {
        let mut hub = Hub::new(8, 5, Arc::default());
        let mut handles: Vec<SocketHandle> =
            (0..5).map(|_| hub.register(grant("c", "p"))).collect();
        let newest = hub.register(grant("c", "p"));
        assert_eq!(handles[0].kill.try_recv(), Ok(REPLACED));
        for handle in &mut handles[1..] {
            assert!(handle.kill.try_recv().is_err());
        }
        assert_eq!(hub.stats().sockets_open, 5);
        drop(newest);
    }

    #[test]
    fn full_queue_closes_the_slow_consumer_only() {
        let metrics = Arc::new(Metrics::default());
        let mut hub = Hub::new(2, 5, metrics.clone());
        let mut slow = hub.register(grant("c", "p1"));
        let mut fast = hub.register(grant("c", "p2"));
        hub.subscribe(slow.id);
        hub.subscribe(fast.id);
        for i in 0..3 {
            broadcast(&mut hub, "c", &format!("m{i}"));
            while fast.frames.try_recv().is_ok() {}
        }
        assert_eq!(slow.kill.try_recv(), Ok(SLOW_CONSUMER));
        assert!(fast.kill.try_recv().is_err());
        assert_eq!(
            metrics.slow_consumer_closes_total.load(Ordering::Relaxed),
            1
        );
        assert_eq!(hub.stats().sockets_open, 1);
    }

    #[test]
    fn chat_end_drains_then_closes() {
        let mut hub = Hub::new(8, 5, Arc::default());
        let mut socket = hub.register(grant("c", "p"));
        hub.subscribe(socket.id);
        hub.apply(vec![
            Effect::Broadcast {
                contact: ContactId::from_client("c"),
                item: Box::new(item("bye")),
            },
            Effect::CloseSockets {
                contact: ContactId::from_client("c"),
            },
        ]);
        assert_eq!(socket.kill.try_recv(), Ok(Kill::Drain));
        assert!(
            socket.frames.try_recv().is_ok(),
            "queued frame still delivered"
        );
        assert!(matches!(
            socket.frames.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }
}
