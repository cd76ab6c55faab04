//! Where the time of an inbound SMS goes: in the handler itself, or waiting on a service.
//!
//! [`Metered`] wraps each port the handler uses and times every call. Per call the time is
//! added to its service's total ([`Service`]); per event, a task-local [`EventClock`]
//! records the wall time during which at least one call was in flight (the handler reads
//! the session and the dedupe marker concurrently, so summing calls would count that
//! overlap twice). "Handler" time is the event's wall time minus that: parsing, deciding,
//! building requests, and waiting for the runtime. "Service" time includes the SDK's own
//! work (signing, serialising) and the HTTP round trip to the emulator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bridge_core::PhoneNumber;
use bridge_core::ids::{
    ConnectionToken, ContactId, InboundMessageId, ItemId, ParticipantToken, SmsMessageId,
};
use bridge_core::menu::MenuChange;
use bridge_core::ports::{
    ChatApi, ChatError, ChatReader, ChatStarter, ChatWriter, ConnectParticipant, Connected,
    ConnectionKind, DedupeStore, Marker, SentMessage, SessionStore, SmsError, SmsSender, StartChat,
    StartedChat, StoreError, TranscriptPage, TranscriptStart,
};
use bridge_core::session::{Session, SessionKey};
use chrono::{DateTime, Utc};
// tokio's Instant, so tests on a paused clock see the time pass.
use tokio::time::Instant;

/// The services an inbound SMS waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Sessions and dedupe markers (moto, or DynamoDB).
    DynamoDb,
    /// Connect and the Participant Service (connect-sim, or Amazon Connect).
    Connect,
    /// Keyword replies (moto, or SNS).
    Sns,
}

impl Service {
    /// Every service, in report order.
    pub const ALL: [Self; 3] = [Self::DynamoDb, Self::Connect, Self::Sns];

    /// A short name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DynamoDb => "dynamodb",
            Self::Connect => "connect",
            Self::Sns => "sns",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::DynamoDb => 0,
            Self::Connect => 1,
            Self::Sns => 2,
        }
    }
}

/// Call counts and summed call time per service, shared by every wrapper.
#[derive(Debug, Default)]
pub struct Totals {
    calls: [AtomicU64; 3],
    nanos: [AtomicU64; 3],
}

impl Totals {
    fn add(&self, service: Service, took: Duration) {
        let i = service.index();
        self.calls[i].fetch_add(1, Ordering::Relaxed);
        self.nanos[i].fetch_add(saturating_nanos(took), Ordering::Relaxed);
    }

    /// Calls made to `service`.
    pub fn calls(&self, service: Service) -> u64 {
        self.calls[service.index()].load(Ordering::Relaxed)
    }

    /// Time spent in calls to `service`, summed over calls.
    pub fn time(&self, service: Service) -> Duration {
        Duration::from_nanos(self.nanos[service.index()].load(Ordering::Relaxed))
    }
}

fn saturating_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The wall time one event spent with at least one service call in flight.
#[derive(Debug, Default)]
pub struct EventClock {
    // A std Mutex: held for a few instructions, never across an await.
    state: Mutex<ClockState>,
}

#[derive(Debug, Default)]
struct ClockState {
    in_flight: u32,
    since: Option<Instant>,
    busy: Duration,
}

impl EventClock {
    fn enter(&self) {
        if let Ok(mut state) = self.state.lock() {
            if state.in_flight == 0 {
                state.since = Some(Instant::now());
            }
            state.in_flight += 1;
        }
    }

    fn leave(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.in_flight = state.in_flight.saturating_sub(1);
            if state.in_flight == 0
                && let Some(since) = state.since.take()
            {
                state.busy += since.elapsed();
            }
        }
    }

    /// The time with a call in flight so far.
    pub fn busy(&self) -> Duration {
        self.state
            .lock()
            .map(|state| state.busy)
            .unwrap_or_default()
    }
}

tokio::task_local! {
    /// The clock of the event the current task is handling, if it is being metered.
    pub static EVENT_CLOCK: Arc<EventClock>;
}

/// Times one call of `service`.
async fn timed<T>(
    totals: &Totals,
    service: Service,
    call: impl std::future::Future<Output = T>,
) -> T {
    let clock = EVENT_CLOCK.try_with(Arc::clone).ok();
    if let Some(clock) = &clock {
        clock.enter();
    }
    let started = Instant::now();
    let result = call.await;
    totals.add(service, started.elapsed());
    if let Some(clock) = &clock {
        clock.leave();
    }
    result
}

/// A port wrapped so that every call is timed.
pub struct Metered<P: ?Sized> {
    inner: Arc<P>,
    totals: Arc<Totals>,
}

impl<P: ?Sized> Metered<P> {
    /// Wraps `inner`, adding to `totals`.
    pub fn new(inner: Arc<P>, totals: Arc<Totals>) -> Self {
        Self { inner, totals }
    }
}

#[async_trait]
impl<P: SessionStore + ?Sized> SessionStore for Metered<P> {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        timed(&self.totals, Service::DynamoDb, self.inner.get(key)).await
    }

    async fn put(&self, session: &Session, expected: Option<u64>) -> Result<Session, StoreError> {
        timed(
            &self.totals,
            Service::DynamoDb,
            self.inner.put(session, expected),
        )
        .await
    }

    async fn get_with_marker(
        &self,
        key: &SessionKey,
        id: &InboundMessageId,
    ) -> Result<(Option<Session>, Option<bool>), StoreError> {
        timed(
            &self.totals,
            Service::DynamoDb,
            self.inner.get_with_marker(key, id),
        )
        .await
    }

    async fn put_marked(
        &self,
        session: &Session,
        expected: Option<u64>,
        marker: &Marker,
    ) -> Result<Session, StoreError> {
        timed(
            &self.totals,
            Service::DynamoDb,
            self.inner.put_marked(session, expected, marker),
        )
        .await
    }

    async fn mark_resumed(&self, key: &SessionKey, marker: &Marker) -> Result<(), StoreError> {
        timed(
            &self.totals,
            Service::DynamoDb,
            self.inner.mark_resumed(key, marker),
        )
        .await
    }

    async fn end_chat(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        timed(
            &self.totals,
            Service::DynamoDb,
            self.inner.end_chat(key, contact_id, now),
        )
        .await
    }

    async fn advance_cursor_and_menu(
        &self,
        key: &SessionKey,
        contact_id: &ContactId,
        item: &ItemId,
        menu: &MenuChange,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        timed(
            &self.totals,
            Service::DynamoDb,
            self.inner
                .advance_cursor_and_menu(key, contact_id, item, menu, now),
        )
        .await
    }

    async fn active_in_shard(&self, shard: u16) -> Result<Vec<Session>, StoreError> {
        timed(
            &self.totals,
            Service::DynamoDb,
            self.inner.active_in_shard(shard),
        )
        .await
    }
}

#[async_trait]
impl<P: DedupeStore + ?Sized> DedupeStore for Metered<P> {
    async fn is_processed(&self, id: &InboundMessageId) -> Result<bool, StoreError> {
        timed(&self.totals, Service::DynamoDb, self.inner.is_processed(id)).await
    }

    async fn mark_processed(
        &self,
        id: &InboundMessageId,
        contact_id: Option<&ContactId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        timed(
            &self.totals,
            Service::DynamoDb,
            self.inner.mark_processed(id, contact_id, now),
        )
        .await
    }
}

#[async_trait]
impl<P: ChatApi + ?Sized> ChatStarter for Metered<P> {
    async fn start_chat(&self, request: &StartChat) -> Result<StartedChat, ChatError> {
        timed(
            &self.totals,
            Service::Connect,
            self.inner.start_chat(request),
        )
        .await
    }
}

#[async_trait]
impl<P: ChatApi + ?Sized> ChatReader for Metered<P> {
    async fn create_connection(
        &self,
        token: &ParticipantToken,
        kind: ConnectionKind,
        joining: ConnectParticipant,
    ) -> Result<Connected, ChatError> {
        timed(
            &self.totals,
            Service::Connect,
            self.inner.create_connection(token, kind, joining),
        )
        .await
    }

    async fn get_transcript(
        &self,
        token: &ConnectionToken,
        start: &TranscriptStart,
        next_token: Option<&str>,
    ) -> Result<TranscriptPage, ChatError> {
        timed(
            &self.totals,
            Service::Connect,
            self.inner.get_transcript(token, start, next_token),
        )
        .await
    }
}

#[async_trait]
impl<P: ChatApi + ?Sized> ChatWriter for Metered<P> {
    async fn send_message(
        &self,
        token: &ConnectionToken,
        content: &str,
        client_token: &str,
    ) -> Result<SentMessage, ChatError> {
        timed(
            &self.totals,
            Service::Connect,
            self.inner.send_message(token, content, client_token),
        )
        .await
    }

    async fn send_event(
        &self,
        token: &ConnectionToken,
        content_type: &str,
        content: Option<&str>,
        client_token: &str,
    ) -> Result<(), ChatError> {
        timed(
            &self.totals,
            Service::Connect,
            self.inner
                .send_event(token, content_type, content, client_token),
        )
        .await
    }

    async fn disconnect(
        &self,
        token: &ConnectionToken,
        client_token: &str,
    ) -> Result<(), ChatError> {
        timed(
            &self.totals,
            Service::Connect,
            self.inner.disconnect(token, client_token),
        )
        .await
    }
}

#[async_trait]
impl<P: SmsSender + ?Sized> SmsSender for Metered<P> {
    async fn send(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        body: &str,
    ) -> Result<SmsMessageId, SmsError> {
        timed(&self.totals, Service::Sns, self.inner.send(to, from, body)).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn overlapping_calls_count_once_in_the_event_clock() {
        // GIVEN two calls that overlap for 10 ms, then a lone call of 5 ms
        let totals = Totals::default();
        let clock = Arc::new(EventClock::default());
        EVENT_CLOCK
            .scope(Arc::clone(&clock), async {
                let sleep = |ms| tokio::time::sleep(Duration::from_millis(ms));
                tokio::join!(
                    timed(&totals, Service::DynamoDb, sleep(10)),
                    timed(&totals, Service::DynamoDb, sleep(10)),
                );
                timed(&totals, Service::Connect, sleep(5)).await;
            })
            .await;
        // THEN the per-service sums count both calls, the event clock the wall time
        assert_eq!(totals.calls(Service::DynamoDb), 2);
        assert_eq!(totals.calls(Service::Connect), 1);
        let busy = clock.busy();
        assert!(busy >= Duration::from_millis(15), "{busy:?}");
        assert!(busy < Duration::from_millis(20), "{busy:?}");
    }
}
