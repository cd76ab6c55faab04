//! The chat adapter (`ConnectChat`: Connect + Connect Participant) against connect-sim,
//! through the real SDK clients.
//!
//! Each test runs its own connect-sim in-process on a random port and drives the agent
//! side through the sim's control API (`/sim/...`, `bridge_testkit::SimControl`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use bridge_aws::{ClientSettings, Clients, ConnectChat};
use bridge_core::ids::{ConnectionToken, ContactFlowId, ContactId, InstanceId};
use bridge_core::ports::{
    ChatError, ChatReader, ChatStarter, ChatTimers, ChatWriter, ConnectParticipant, ConnectionKind,
    IdleTimers, ItemKind, Role, StartChat, StartedChat, TranscriptItem, TranscriptStart,
};
use bridge_testkit::emulators::client_settings;
use bridge_testkit::sim::Contact;
use bridge_testkit::{SimControl, SimFault, emulator_config};
use chrono::{TimeDelta, Utc};
use connect_sim::{RunningSim, SimConfig};
use serde_json::json;

/// A running sim, the adapter pointed at it, and the sim's control API.
struct Harness {
    /// Kept for its lifetime: dropping it stops the sim.
    _running: RunningSim,
    chat: ConnectChat,
    sim: SimControl,
}

impl Harness {
    async fn new(settings: &ClientSettings) -> Self {
        let sim = connect_sim::spawn(SimConfig::default()).await.unwrap();
        let clients = Clients::new(&emulator_config(&sim.base_url()), settings);
        Self {
            chat: ConnectChat::new(clients.connect, clients.participant),
            sim: SimControl::new(&sim.base_url()).unwrap(),
            _running: sim,
        }
    }

    async fn fault(&self, operation: &str, status: u16, count: u32) {
        self.sim
            .add_fault(&SimFault::fail(operation, status).times(count))
            .await
            .unwrap();
    }

    async fn agent_says(&self, contact: &ContactId, text: &str) {
        self.sim.say(contact.as_str(), text).await.unwrap();
    }

    async fn end(&self, contact: &ContactId) {
        self.sim.end(contact.as_str()).await.unwrap();
    }

    async fn summary(&self, contact: &ContactId) -> Contact {
        self.sim.contact(contact.as_str()).await.unwrap()
    }

    /// Message texts of the contact's transcript, as the sim stores it.
    async fn sim_messages(&self, contact: &ContactId) -> Vec<String> {
        self.sim
            .transcript(contact.as_str())
            .await
            .unwrap()
            .into_iter()
            .filter(|item| item.item_type == "MESSAGE")
            .map(|item| item.content.unwrap())
            .collect()
    }

    /// Starts a chat and connects the customer (credentials), as the inbound Lambda does.
    async fn started(&self, token: &str, text: &str) -> (StartedChat, ConnectionToken) {
        let started = self
            .chat
            .start_chat(&request(token, Some(text)))
            .await
            .unwrap();
        let connected = self
            .chat
            .create_connection(
                &started.participant_token,
                ConnectionKind::Credentials,
                ConnectParticipant::Join,
            )
            .await
            .unwrap();
        (started, connected.connection.unwrap().token)
    }

    /// Every transcript item, paging forwards from the oldest.
    async fn transcript(&self, token: &ConnectionToken) -> Vec<TranscriptItem> {
        let mut items = Vec::new();
        let mut next = None;
        loop {
            let page = self
                .chat
                .get_transcript(token, &TranscriptStart::Oldest, next.as_deref())
                .await
                .unwrap();
            items.extend(page.items);
            match page.next_token {
                Some(token) => next = Some(token),
                None => return items,
            }
        }
    }
}

fn request(client_token: &str, text: Option<&str>) -> StartChat {
    StartChat {
        instance_id: InstanceId::new("instance-1").unwrap(),
        contact_flow_id: ContactFlowId::new("flow-1").unwrap(),
        client_token: client_token.to_owned(),
        display_name: "+1******0001".to_owned(),
        attributes: BTreeMap::from([
            ("customerNumber".to_owned(), "+15550000001".to_owned()),
            ("supportNumber".to_owned(), "+18005550100".to_owned()),
            ("channel".to_owned(), "SMS".to_owned()),
        ]),
        initial_message: text.map(str::to_owned),
        continue_from: None,
        duration_minutes: Some(60),
        connection: None,
    }
}

fn messages(items: &[TranscriptItem]) -> Vec<(Option<Role>, String)> {
    items
        .iter()
        .filter(|item| item.kind == ItemKind::Message)
        .map(|item| (item.role.clone(), item.content.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn start_connect_send_and_read_the_transcript() {
    let h = Harness::new(&client_settings()).await;
    let started = h
        .chat
        .start_chat(&request("start-1", Some("hello")))
        .await
        .unwrap();
    assert_eq!(started.continued_from, None);
    let summary = h.summary(&started.contact_id).await;
    assert_eq!(summary.attributes["customerNumber"], "+15550000001");
    assert_eq!(summary.attributes["channel"], "SMS");

    let connected = h
        .chat
        .create_connection(
            &started.participant_token,
            ConnectionKind::Both,
            ConnectParticipant::Join,
        )
        .await
        .unwrap();
    let connection = connected.connection.unwrap();
    let lifetime = connection.expires_at - Utc::now();
    assert!(
        lifetime > TimeDelta::hours(23) && lifetime <= TimeDelta::hours(24),
        "{lifetime}"
    );
    let websocket = connected.websocket.unwrap();
    assert!(websocket.url.starts_with("ws://"), "a ws:// url");
    assert!(websocket.connect_by > Utc::now());

    let sent = h
        .chat
        .send_message(&connection.token, "second text", "sms-2")
        .await
        .unwrap();
    h.agent_says(&started.contact_id, "Hi, how can I help?")
        .await;

    let items = h.transcript(&connection.token).await;
    assert_eq!(
        messages(&items),
        [
            (Some(Role::Customer), "hello".to_owned()),
            (Some(Role::Customer), "second text".to_owned()),
            (Some(Role::Agent), "Hi, how can I help?".to_owned()),
        ]
    );
    let mine = items.iter().find(|item| item.id == sent.id).unwrap();
    assert_eq!(mine.content_type, "text/plain");
    assert_eq!(mine.absolute_time, sent.absolute_time);
    assert_eq!(mine.contact_id.as_ref(), Some(&started.contact_id));
    // From an item on, inclusive, forwards.
    let page = h
        .chat
        .get_transcript(
            &connection.token,
            &TranscriptStart::FromItem(sent.id.clone()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(page.items.first().map(|item| &item.id), Some(&sent.id));
    assert_eq!(
        messages(&page.items).last().map(|(_, text)| text.as_str()),
        Some("Hi, how can I help?")
    );
}

#[tokio::test]
async fn client_token_replays_return_the_same_chat_and_item() {
    let h = Harness::new(&client_settings()).await;
    let (started, token) = h.started("start-1", "hello").await;
    let again = h
        .chat
        .start_chat(&request("start-1", Some("hello")))
        .await
        .unwrap();
    assert_eq!(again.contact_id, started.contact_id);

    let first = h
        .chat
        .send_message(&token, "only once", "sms-7")
        .await
        .unwrap();
    let replay = h
        .chat
        .send_message(&token, "only once", "sms-7")
        .await
        .unwrap();
    assert_eq!(replay, first);
    assert_eq!(
        h.sim_messages(&started.contact_id).await,
        ["hello", "only once"]
    );
}

#[tokio::test]
async fn ended_chat_answers_chat_ended() {
    let h = Harness::new(&client_settings()).await;
    let (started, token) = h.started("start-1", "hello").await;
    h.end(&started.contact_id).await;

    let error = h
        .chat
        .send_message(&token, "are you there?", "sms-3")
        .await
        .unwrap_err();
    assert!(matches!(error, ChatError::ChatEnded), "{error:?}");
    assert!(!error.is_retriable());
    let error = h
        .chat
        .get_transcript(&token, &TranscriptStart::Oldest, None)
        .await
        .unwrap_err();
    assert!(matches!(error, ChatError::ChatEnded), "{error:?}");
    // Refreshing the connection does not help: the chat is over.
    let error = h
        .chat
        .create_connection(
            &started.participant_token,
            ConnectionKind::Credentials,
            ConnectParticipant::Join,
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ChatError::ChatEnded), "{error:?}");
    // Stopping an ended chat is not an error.
    h.chat
        .stop_chat(&InstanceId::new("instance-1").unwrap(), &started.contact_id)
        .await
        .unwrap();
}

#[tokio::test]
async fn stop_chat_ends_it_for_the_participant() {
    let h = Harness::new(&client_settings()).await;
    let (started, token) = h.started("start-1", "STOP").await;
    let instance = InstanceId::new("instance-1").unwrap();
    h.chat
        .stop_chat(&instance, &started.contact_id)
        .await
        .unwrap();
    assert_eq!(h.summary(&started.contact_id).await.status, "ENDED");
    let error = h
        .chat
        .send_message(&token, "late", "sms-9")
        .await
        .unwrap_err();
    assert!(matches!(error, ChatError::ChatEnded), "{error:?}");
}

#[tokio::test]
async fn injected_server_error_is_transient_and_leaves_no_item() {
    let h = Harness::new(&client_settings().with_max_attempts(1)).await;
    let (started, token) = h.started("start-1", "hello").await;
    h.fault("SendMessage", 500, 1).await;
    let error = h
        .chat
        .send_message(&token, "retry me", "sms-4")
        .await
        .unwrap_err();
    assert!(matches!(error, ChatError::Transient(_)), "{error:?}");
    assert!(error.is_retriable());
    // The platform's retry, same ClientToken: delivered once.
    h.chat
        .send_message(&token, "retry me", "sms-4")
        .await
        .unwrap();
    assert_eq!(
        h.sim_messages(&started.contact_id).await,
        ["hello", "retry me"]
    );
}

#[tokio::test]
async fn injected_throttling_is_throttled_when_retries_run_out() {
    let h = Harness::new(&client_settings().with_max_attempts(1)).await;
    let (_, token) = h.started("start-1", "hello").await;
    h.fault("SendMessage", 429, 1).await;
    let error = h
        .chat
        .send_message(&token, "slow down", "sms-5")
        .await
        .unwrap_err();
    assert!(matches!(error, ChatError::Throttled(_)), "{error:?}");
    assert!(error.is_retriable());
    h.fault("StartChatContact", 429, 1).await;
    let error = h
        .chat
        .start_chat(&request("start-2", Some("x")))
        .await
        .unwrap_err();
    assert!(matches!(error, ChatError::Throttled(_)), "{error:?}");
}

#[tokio::test]
async fn the_sdk_retries_throttling_within_its_attempts() {
    // Default policy: 3 attempts. Two throttled answers are absorbed; three are not.
    let h = Harness::new(&client_settings()).await;
    let (started, token) = h.started("start-1", "hello").await;
    h.fault("SendMessage", 429, 2).await;
    h.chat
        .send_message(&token, "third time lucky", "sms-6")
        .await
        .unwrap();
    h.fault("SendMessage", 429, 3).await;
    let error = h
        .chat
        .send_message(&token, "never", "sms-8")
        .await
        .unwrap_err();
    assert!(matches!(error, ChatError::Throttled(_)), "{error:?}");
    assert_eq!(
        h.sim_messages(&started.contact_id).await,
        ["hello", "third time lucky"]
    );
}

#[tokio::test]
async fn invalid_requests_are_invalid() {
    let h = Harness::new(&client_settings()).await;
    let (_, token) = h.started("start-1", "hello").await;
    let error = h
        .chat
        .send_message(&token, &"a".repeat(1025), "sms-10")
        .await
        .unwrap_err();
    assert!(matches!(error, ChatError::Invalid(_)), "{error:?}");
    assert!(!error.is_retriable());
    let mut too_short = request("start-2", Some("x"));
    too_short.duration_minutes = Some(10);
    let error = h.chat.start_chat(&too_short).await.unwrap_err();
    assert!(matches!(error, ChatError::Invalid(_)), "{error:?}");
}

#[tokio::test]
async fn persistent_chat_continues_from_the_ended_contact() {
    let h = Harness::new(&client_settings()).await;
    let (first, _) = h.started("start-1", "hello").await;
    h.end(&first.contact_id).await;
    let mut next = request("start-2", Some("back again"));
    next.continue_from = Some(first.contact_id.clone());
    let second = h.chat.start_chat(&next).await.unwrap();
    assert_ne!(second.contact_id, first.contact_id);
    assert_eq!(second.continued_from, Some(first.contact_id));
}

#[tokio::test]
async fn disconnect_ends_the_chat() {
    let h = Harness::new(&client_settings()).await;
    let (started, token) = h.started("start-1", "bye").await;
    h.chat
        .send_event(
            &token,
            "application/vnd.amazonaws.connect.event.typing",
            None,
            "ev-1",
        )
        .await
        .unwrap();
    h.chat.disconnect(&token, "bye-1").await.unwrap();
    assert_eq!(h.summary(&started.contact_id).await.status, "ENDED");
}

#[tokio::test]
async fn customer_timers_are_set_as_configured_and_refused_out_of_range() {
    let h = Harness::new(&client_settings()).await;
    let (started, _) = h.started("start-timers", "hello").await;
    let instance = InstanceId::new("instance-1").unwrap();

    // Only the configured timer is sent: the other is left as it was.
    h.chat
        .set_customer_timers(
            &instance,
            &started.contact_id,
            IdleTimers {
                idle: None,
                disconnect: Some(45),
            },
        )
        .await
        .unwrap();
    h.chat
        .set_customer_timers(
            &instance,
            &started.contact_id,
            IdleTimers {
                idle: Some(30),
                disconnect: None,
            },
        )
        .await
        .unwrap();
    let timers = h.summary(&started.contact_id).await.rest["Timers"].clone();
    assert_eq!(
        timers,
        json!([
            {"ParticipantRole": "CUSTOMER", "TimerType": "IDLE", "DurationInMinutes": 30},
            {"ParticipantRole": "CUSTOMER", "TimerType": "DISCONNECT_NONCUSTOMER", "DurationInMinutes": 45},
        ])
    );

    // Connect's range is 2-480 minutes: anything else is a request never worth retrying.
    let error = h
        .chat
        .set_customer_timers(
            &instance,
            &started.contact_id,
            IdleTimers {
                idle: Some(1),
                disconnect: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ChatError::Invalid(_)), "{error:?}");
    assert!(!error.is_retriable());

    // An ended chat has no timers to set.
    h.end(&started.contact_id).await;
    let error = h
        .chat
        .set_customer_timers(
            &instance,
            &started.contact_id,
            IdleTimers {
                idle: Some(10),
                disconnect: None,
            },
        )
        .await
        .unwrap_err();
    assert!(!error.is_retriable(), "{error:?}");
}
