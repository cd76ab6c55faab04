//! Unit tests of the model: operations and lifecycle rules without HTTP or sockets.

use std::time::Duration;

use super::api::{
    AgentJoinRequest, ChatMessage, CreateParticipantConnectionRequest,
    DisconnectParticipantRequest, GetTranscriptRequest, SendEventRequest, SendMessageRequest,
    StartChatContactRequest, StartChatContactResponse, StopContactRequest,
};
use super::item::Role;
use super::*;

const WS: &str = "ws://127.0.0.1:1";

struct Fixture {
    model: Model,
    now: Now,
}

impl Fixture {
    fn new() -> Self {
        Self::with(SimConfig::default())
    }

    fn with(config: SimConfig) -> Self {
        Self {
            model: Model::new(&config),
            now: Now {
                mono: Instant::now(),
                wall: Utc::now(),
            },
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now.mono += by;
        self.now.wall += by;
    }

    fn start(&mut self, token: Option<&str>) -> StartChatContactResponse {
        self.model
            .start_chat(start_request(token), WS, self.now)
            .expect("chat starts")
    }

    fn connect(&mut self, participant_token: &str) -> CreateParticipantConnectionResponse {
        self.model
            .create_connection(
                participant_token,
                &CreateParticipantConnectionRequest {
                    connection_type: Some(vec![
                        "WEBSOCKET".into(),
                        "CONNECTION_CREDENTIALS".into(),
                    ]),
                    connect_participant: None,
                },
                WS,
                self.now,
            )
            .expect("connects")
    }

    fn connection_token(&mut self, participant_token: &str) -> String {
        self.connect(participant_token)
            .connection_credentials
            .expect("credentials")
            .connection_token
    }

    fn send(
        &mut self,
        token: &str,
        text: &str,
        client_token: Option<&str>,
    ) -> Result<SendResponse, ApiError> {
        self.model.send_message(
            token,
            &SendMessageRequest {
                content_type: Some("text/plain".into()),
                content: Some(text.into()),
                client_token: client_token.map(str::to_owned),
            },
            self.now,
        )
    }

    fn transcript(&self, contact: &str) -> Vec<Item> {
        self.model
            .full_transcript(&ContactId::from_client(contact))
            .expect("contact exists")
            .transcript
    }
}

fn start_request(token: Option<&str>) -> StartChatContactRequest {
    StartChatContactRequest {
        instance_id: Some("instance-1".into()),
        contact_flow_id: Some("flow-1".into()),
        participant_details: Some(api::ParticipantDetails {
            display_name: Some("Customer".into()),
        }),
        client_token: token.map(str::to_owned),
        ..StartChatContactRequest::default()
    }
}

fn content_types(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| i.content_type.clone().unwrap_or_default())
        .collect()
}

#[test]
fn start_chat_client_token_replay_returns_the_same_contact() {
    let mut f = Fixture::new();
    let first = f.start(Some("token-1"));
    let again = f.start(Some("token-1"));
    assert_eq!(first, again);
    assert_eq!(f.model.list_contacts().len(), 1);
    let other = f.start(Some("token-2"));
    assert_ne!(other.contact_id, first.contact_id);
}

#[test]
fn initial_message_follows_the_customer_join() {
    let mut f = Fixture::new();
    let mut request = start_request(None);
    request.initial_message = Some(ChatMessage {
        content_type: Some("text/plain".into()),
        content: Some("hello".into()),
    });
    let started = f.model.start_chat(request, WS, f.now).expect("starts");
    let items = f.transcript(&started.contact_id);
    assert_eq!(
        content_types(&items),
        [event::PARTICIPANT_JOINED, "text/plain"]
    );
    assert_eq!(items[1].content.as_deref(), Some("hello"));
    assert_eq!(items[1].participant_role, Some(Role::Customer));
    assert_eq!(f.model.take_effects().len(), 2);
}

#[test]
fn type_is_required_unless_connect_participant() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let err = f
        .model
        .create_connection(
            &started.participant_token,
            &CreateParticipantConnectionRequest::default(),
            WS,
            f.now,
        )
        .expect_err("no type");
    assert_eq!(err.error_type(), "ValidationException");
    let ack = f
        .model
        .create_connection(
            &started.participant_token,
            &CreateParticipantConnectionRequest {
                connection_type: None,
                connect_participant: Some(true),
            },
            WS,
            f.now,
        )
        .expect("ack only");
    assert_eq!(ack, CreateParticipantConnectionResponse::default());
    let summary = f
        .model
        .contact_summary(&ContactId::from_client(&started.contact_id))
        .expect("exists");
    assert_eq!(summary.status, Status::Connected);
}

#[test]
fn customer_who_never_connects_is_timed_out() {
    let mut f = Fixture::new();
    let idle = f.start(None);
    let connected = f.start(None);
    f.connect(&connected.participant_token);
    f.advance(Duration::from_secs(301));
    assert_eq!(f.model.expire(f.now), 1);
    let idle_summary = f
        .model
        .contact_summary(&ContactId::from_client(&idle.contact_id))
        .expect("exists");
    assert_eq!(idle_summary.status, Status::Ended);
    assert_eq!(
        content_types(&f.transcript(&idle.contact_id)),
        [event::CHAT_ENDED]
    );
    let still = f
        .model
        .contact_summary(&ContactId::from_client(&connected.contact_id))
        .expect("exists");
    assert_eq!(still.status, Status::Connected);
}

#[test]
fn chat_duration_ends_the_chat() {
    let mut f = Fixture::new();
    let mut request = start_request(None);
    request.chat_duration_in_minutes = Some(60);
    let started = f.model.start_chat(request, WS, f.now).expect("starts");
    let token = f.connection_token(&started.participant_token);
    f.advance(Duration::from_secs(59 * 60));
    assert_eq!(f.model.expire(f.now), 0);
    f.advance(Duration::from_secs(61));
    assert_eq!(f.model.expire(f.now), 1);
    let err = f.send(&token, "late", None).expect_err("ended");
    assert_eq!(err.error_type(), "AccessDeniedException");
}

#[test]
fn ended_chat_emits_left_then_ended_and_closes_sockets() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let token = f.connection_token(&started.participant_token);
    let id = ContactId::from_client(&started.contact_id);
    f.model
        .agent_join(&id, &AgentJoinRequest::default(), f.now)
        .expect("agent joins");
    f.model.take_effects();
    f.model
        .disconnect(&token, &DisconnectParticipantRequest::default(), f.now)
        .expect("disconnects");
    let effects = f.model.take_effects();
    let kinds: Vec<String> = effects
        .iter()
        .map(|e| match e {
            Effect::Broadcast { item, .. } => format!(
                "{}:{:?}",
                item.content_type.clone().unwrap_or_default(),
                item.participant_role
            ),
            Effect::CloseSockets { .. } => "close".into(),
            Effect::Archive(archived) => format!("archive:{}", archived.key),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            format!("{}:Some(Customer)", event::PARTICIPANT_LEFT),
            format!("{}:Some(Agent)", event::PARTICIPANT_LEFT),
            format!("{}:Some(System)", event::CHAT_ENDED),
            "close".to_owned(),
        ]
    );
    let again = f
        .model
        .disconnect(&token, &DisconnectParticipantRequest::default(), f.now)
        .expect_err("already ended");
    assert_eq!(again.error_type(), "AccessDeniedException");
}

#[test]
fn send_message_replay_returns_the_first_id_without_a_second_item() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let token = f.connection_token(&started.participant_token);
    let first = f.send(&token, "hi", Some("ct-1")).expect("sent");
    let second = f.send(&token, "hi", Some("ct-1")).expect("replayed");
    assert_eq!(first, second);
    let messages = f
        .transcript(&started.contact_id)
        .into_iter()
        .filter(|i| i.item_type == ItemType::Message)
        .count();
    assert_eq!(messages, 1);
}

#[test]
fn message_over_1024_characters_is_a_validation_error() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let token = f.connection_token(&started.participant_token);
    let err = f
        .send(&token, &"x".repeat(1025), None)
        .expect_err("too long");
    assert_eq!(err.error_type(), "ValidationException");
    assert!(f.send(&token, &"x".repeat(1024), None).is_ok());
}

#[test]
fn connection_token_expires() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let token = f.connection_token(&started.participant_token);
    f.advance(Duration::from_secs(24 * 3600 + 1));
    let err = f.send(&token, "hi", None).expect_err("expired");
    assert_eq!(err.error_type(), "AccessDeniedException");
}

#[test]
fn websocket_url_is_single_use_and_expires() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let url = f
        .connect(&started.participant_token)
        .websocket
        .expect("url")
        .url;
    let key = url.rsplit('/').next().expect("key");
    assert!(f.model.open_socket(key, f.now).is_ok());
    assert_eq!(f.model.open_socket(key, f.now), Err(SocketRefusal::Unknown));
    let late = f
        .connect(&started.participant_token)
        .websocket
        .expect("url")
        .url;
    f.advance(Duration::from_secs(101));
    let key = late.rsplit('/').next().expect("key");
    assert!(matches!(
        f.model.open_socket(key, f.now),
        Err(SocketRefusal::Expired | SocketRefusal::Unknown)
    ));
}

#[test]
fn read_receipt_is_recorded_and_broadcast_as_message_metadata() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let token = f.connection_token(&started.participant_token);
    let id = ContactId::from_client(&started.contact_id);
    let agent_message = f
        .model
        .agent_message(
            &id,
            &ChatMessage {
                content_type: None,
                content: Some("hello".into()),
            },
            f.now,
        )
        .expect("agent sends");
    f.model.take_effects();
    f.model
        .send_event(
            &token,
            &SendEventRequest {
                content_type: Some(event::MESSAGE_READ.into()),
                content: Some(format!("{{\"messageId\":\"{}\"}}", agent_message.id)),
                client_token: None,
            },
            f.now,
        )
        .expect("receipt");
    let effects = f.model.take_effects();
    let Some(Effect::Broadcast { item, .. }) = effects.first() else {
        panic!("expected a broadcast, got {effects:?}");
    };
    assert_eq!(item.item_type, ItemType::MessageMetadata);
    let metadata = item.message_metadata.as_ref().expect("metadata");
    assert_eq!(metadata.message_id, agent_message.id);
    assert_eq!(
        metadata.receipts[0].recipient_participant_id,
        started.participant_id
    );
    let stored = f
        .transcript(&started.contact_id)
        .into_iter()
        .find(|i| i.id == agent_message.id)
        .expect("message");
    assert!(
        stored.message_metadata.expect("receipts").receipts[0]
            .read_timestamp
            .is_some()
    );
}

#[test]
fn typing_is_broadcast_but_not_stored() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let token = f.connection_token(&started.participant_token);
    f.model.take_effects();
    let before = f.transcript(&started.contact_id).len();
    f.model
        .send_event(
            &token,
            &SendEventRequest {
                content_type: Some(event::TYPING.into()),
                content: None,
                client_token: None,
            },
            f.now,
        )
        .expect("typing");
    assert_eq!(f.model.take_effects().len(), 1);
    assert_eq!(f.transcript(&started.contact_id).len(), before);
}

#[test]
fn persistent_chat_needs_an_ended_source_and_links_back() {
    let mut f = Fixture::new();
    let old = f.start(None);
    let old_token = f.connection_token(&old.participant_token);
    f.send(&old_token, "before", None).expect("sent");
    let mut request = start_request(None);
    request.persistent_chat = Some(api::PersistentChat {
        rehydration_type: Some("ENTIRE_PAST_SESSION".into()),
        source_contact_id: Some(old.contact_id.clone()),
    });
    let err = f
        .model
        .start_chat(request.clone(), WS, f.now)
        .expect_err("source still active");
    assert_eq!(err.error_type(), "InvalidRequestException");
    f.model
        .disconnect(&old_token, &DisconnectParticipantRequest::default(), f.now)
        .expect("ends");
    let new = f.model.start_chat(request, WS, f.now).expect("continues");
    assert_eq!(
        new.continued_from_contact_id.as_deref(),
        Some(old.contact_id.as_str())
    );
    let new_token = f.connection_token(&new.participant_token);
    let first = f
        .model
        .get_transcript(&new_token, &GetTranscriptRequest::default(), f.now)
        .expect("page");
    assert!(
        first
            .transcript
            .iter()
            .all(|i| i.contact_id.as_deref() == Some(new.contact_id.as_str()))
    );
    let past = f
        .model
        .get_transcript(
            &new_token,
            &GetTranscriptRequest {
                next_token: first.next_token.clone(),
                scan_direction: Some("BACKWARD".into()),
                ..GetTranscriptRequest::default()
            },
            f.now,
        )
        .expect("past page");
    assert!(
        past.transcript
            .iter()
            .any(|i| i.content.as_deref() == Some("before"))
    );
    assert!(
        past.transcript
            .iter()
            .all(
                |i| i.related_contact_id.as_deref() == Some(old.contact_id.as_str())
                    && i.contact_id.is_none()
            )
    );
}

#[test]
fn persistent_chat_and_related_contact_are_exclusive() {
    let mut f = Fixture::new();
    let mut request = start_request(None);
    request.related_contact_id = Some("x".into());
    request.persistent_chat = Some(api::PersistentChat {
        rehydration_type: Some("FROM_SEGMENT".into()),
        source_contact_id: Some("y".into()),
    });
    let err = f
        .model
        .start_chat(request, WS, f.now)
        .expect_err("exclusive");
    assert_eq!(err.error_type(), "InvalidRequestException");
}

#[test]
fn concurrent_chat_limit_answers_limit_exceeded_until_a_chat_ends() {
    let mut f = Fixture::with(SimConfig {
        concurrent_chat_limit: Some(1),
        ..SimConfig::default()
    });
    let first = f.start(None);
    let err = f
        .model
        .start_chat(start_request(None), WS, f.now)
        .expect_err("over limit");
    assert_eq!(err.error_type(), "LimitExceededException");
    f.model
        .agent_end(&ContactId::from_client(&first.contact_id), f.now)
        .expect("ends");
    assert!(f.model.start_chat(start_request(None), WS, f.now).is_ok());
}

#[test]
fn stop_contact_is_a_no_op_when_ended_and_404_when_unknown() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let request = StopContactRequest {
        contact_id: Some(started.contact_id.clone()),
        instance_id: Some("instance-1".into()),
    };
    f.model.stop_contact(&request, f.now).expect("stops");
    f.model.stop_contact(&request, f.now).expect("no-op");
    let unknown = StopContactRequest {
        contact_id: Some("nope".into()),
        instance_id: Some("instance-1".into()),
    };
    assert_eq!(
        f.model
            .stop_contact(&unknown, f.now)
            .expect_err("404")
            .status(),
        axum::http::StatusCode::NOT_FOUND
    );
}

#[test]
fn empty_start_position_means_none() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let token = f.connection_token(&started.participant_token);
    for i in 0..3 {
        f.send(&token, &format!("m{i}"), None).expect("sent");
    }
    let page = f
        .model
        .get_transcript(
            &token,
            &GetTranscriptRequest {
                start_position: Some(api::StartPosition::default()),
                max_results: Some(2),
                sort_order: Some("ASCENDING".into()),
                ..GetTranscriptRequest::default()
            },
            f.now,
        )
        .expect("page");
    let texts: Vec<_> = page
        .transcript
        .iter()
        .filter_map(|i| i.content.clone())
        .collect();
    assert_eq!(texts, ["m1", "m2"]);
    assert!(page.next_token.is_some());
}

#[test]
fn max_results_above_100_is_refused() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let token = f.connection_token(&started.participant_token);
    let err = f
        .model
        .get_transcript(
            &token,
            &GetTranscriptRequest {
                max_results: Some(101),
                ..GetTranscriptRequest::default()
            },
            f.now,
        )
        .expect_err("too many");
    assert_eq!(err.error_type(), "ValidationException");
}

// ----- Idle timers (UpdateParticipantRoleConfig, docs/connect-chat.md §6.1) ---------------

const MINUTE: Duration = Duration::from_secs(60);

/// A chat whose customer connected: (contact id, connection token).
fn connected(f: &mut Fixture) -> (ContactId, String) {
    let started = f.start(None);
    let token = f.connection_token(&started.participant_token);
    (ContactId::from_client(&started.contact_id), token)
}

fn join_agent(f: &mut Fixture, id: &ContactId) -> String {
    f.model
        .agent_join(
            id,
            &AgentJoinRequest {
                display_name: Some("Agent Smith".into()),
            },
            f.now,
        )
        .expect("agent joins")
        .participant_id
}

/// UpdateParticipantRoleConfig with `list` as ParticipantTimerConfigList.
fn set_timers(f: &mut Fixture, id: &ContactId, list: serde_json::Value) -> Result<(), ApiError> {
    let body =
        serde_json::json!({"ChannelConfiguration": {"Chat": {"ParticipantTimerConfigList": list}}});
    let request: api::UpdateParticipantRoleConfigRequest =
        serde_json::from_value(body).expect("request json");
    f.model
        .update_participant_role_config("instance-1", id.as_str(), &request)
}

fn timer(role: &str, timer_type: &str, minutes: i64) -> serde_json::Value {
    serde_json::json!({
        "ParticipantRole": role,
        "TimerType": timer_type,
        "TimerValue": {"ParticipantTimerDurationInMinutes": minutes},
    })
}

fn unset(role: &str, timer_type: &str) -> serde_json::Value {
    serde_json::json!({
        "ParticipantRole": role,
        "TimerType": timer_type,
        "TimerValue": {"ParticipantTimerAction": "Unset"},
    })
}

/// Moves time on and applies due deadlines; returns the broadcast items (and `close`).
fn tick(f: &mut Fixture, by: Duration) -> Vec<Item> {
    f.advance(by);
    f.model.expire(f.now);
    broadcasts(f)
}

fn broadcasts(f: &mut Fixture) -> Vec<Item> {
    f.model
        .take_effects()
        .into_iter()
        .filter_map(|effect| match effect {
            Effect::Broadcast { item, .. } => Some(*item),
            Effect::CloseSockets { .. } | Effect::Archive(_) => None,
        })
        .collect()
}

fn summary_timers(f: &Fixture, id: &ContactId) -> (Vec<(String, String, u32)>, Option<usize>) {
    let summary = f.model.contact_summary(id).expect("contact");
    let json = serde_json::to_value(&summary).expect("json");
    let timers = json["Timers"]
        .as_array()
        .expect("Timers is a list")
        .iter()
        .map(|t| {
            (
                t["ParticipantRole"].as_str().expect("role").to_owned(),
                t["TimerType"].as_str().expect("type").to_owned(),
                u32::try_from(t["DurationInMinutes"].as_u64().expect("minutes")).expect("u32"),
            )
        })
        .collect();
    (timers, summary.pending_timers.map(|p| p.len()))
}

#[test]
fn role_config_refuses_bad_timer_lists_with_invalid_parameter() {
    let mut f = Fixture::new();
    let (id, _) = connected(&mut f);
    let both = serde_json::json!([{
        "ParticipantRole": "CUSTOMER",
        "TimerType": "IDLE",
        "TimerValue": {"ParticipantTimerDurationInMinutes": 5, "ParticipantTimerAction": "Unset"},
    }]);
    let none = serde_json::json!([{
        "ParticipantRole": "CUSTOMER", "TimerType": "IDLE", "TimerValue": {},
    }]);
    let cases = [
        (
            "1 minute",
            serde_json::json!([timer("CUSTOMER", "IDLE", 1)]),
        ),
        (
            "481 minutes",
            serde_json::json!([timer("CUSTOMER", "IDLE", 481)]),
        ),
        ("both members", both),
        ("no member", none),
        (
            "bad role",
            serde_json::json!([timer("SUPERVISOR", "IDLE", 5)]),
        ),
        (
            "bad type",
            serde_json::json!([timer("CUSTOMER", "DISCONNECT", 5)]),
        ),
        (
            "bad action",
            serde_json::json!([{
                "ParticipantRole": "AGENT", "TimerType": "IDLE",
                "TimerValue": {"ParticipantTimerAction": "Reset"},
            }]),
        ),
        (
            "duplicate",
            serde_json::json!([timer("AGENT", "IDLE", 5), unset("AGENT", "IDLE")]),
        ),
        ("empty list", serde_json::json!([])),
    ];
    for (case, list) in cases {
        let err = set_timers(&mut f, &id, list).expect_err(case);
        assert_eq!(
            err.error_type(),
            "InvalidParameterException",
            "{case}: {err}"
        );
        assert_eq!(err.status().as_u16(), 400, "{case}");
    }
    let missing = f
        .model
        .update_participant_role_config(
            "instance-1",
            id.as_str(),
            &api::UpdateParticipantRoleConfigRequest::default(),
        )
        .expect_err("no ChannelConfiguration");
    assert_eq!(missing.error_type(), "InvalidParameterException");
    assert_eq!(summary_timers(&f, &id), (vec![], None), "nothing applied");
    // The bounds themselves are accepted.
    set_timers(
        &mut f,
        &id,
        serde_json::json!([timer("CUSTOMER", "IDLE", 2), timer("AGENT", "IDLE", 480)]),
    )
    .expect("2 and 480 minutes");
}

#[test]
fn role_config_answers_404_for_unknown_contacts_and_400_once_ended() {
    let mut f = Fixture::new();
    let list = serde_json::json!([timer("CUSTOMER", "IDLE", 5)]);
    let unknown = set_timers(
        &mut f,
        &ContactId::from_client("no-such-contact"),
        list.clone(),
    )
    .expect_err("unknown");
    assert_eq!(unknown.error_type(), "ResourceNotFoundException");
    let (id, token) = connected(&mut f);
    let request: api::UpdateParticipantRoleConfigRequest = serde_json::from_value(
        serde_json::json!({"ChannelConfiguration": {"Chat": {"ParticipantTimerConfigList": list}}}),
    )
    .expect("request");
    let other_instance = f
        .model
        .update_participant_role_config("instance-2", id.as_str(), &request)
        .expect_err("other instance");
    assert_eq!(other_instance.error_type(), "ResourceNotFoundException");
    f.model
        .disconnect(&token, &DisconnectParticipantRequest::default(), f.now)
        .expect("ends");
    let ended = set_timers(&mut f, &id, list).expect_err("ended");
    assert_eq!(ended.error_type(), "InvalidRequestException");
}

#[test]
fn unset_removes_one_timer_and_updates_merge() {
    let mut f = Fixture::new();
    let (id, _) = connected(&mut f);
    set_timers(
        &mut f,
        &id,
        serde_json::json!([timer("AGENT", "IDLE", 7), timer("CUSTOMER", "IDLE", 5)]),
    )
    .expect("set");
    set_timers(
        &mut f,
        &id,
        serde_json::json!([timer("CUSTOMER", "DISCONNECT_NONCUSTOMER", 9)]),
    )
    .expect("merged");
    set_timers(&mut f, &id, serde_json::json!([unset("CUSTOMER", "IDLE")])).expect("unset");
    assert_eq!(
        summary_timers(&f, &id),
        (
            vec![
                ("CUSTOMER".into(), "DISCONNECT_NONCUSTOMER".into(), 9),
                ("AGENT".into(), "IDLE".into(), 7),
            ],
            None
        )
    );
}

#[test]
fn customer_idle_runs_only_once_an_agent_joined() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let id = ContactId::from_client(&started.contact_id);
    set_timers(
        &mut f,
        &id,
        serde_json::json!([timer("CUSTOMER", "IDLE", 2)]),
    )
    .expect("set");
    f.connect(&started.participant_token);
    f.model.take_effects();
    // No agent: the customer's silence marks nobody idle.
    assert!(tick(&mut f, 4 * MINUTE).is_empty());
    join_agent(&mut f, &id);
    f.model.take_effects();
    assert!(tick(&mut f, 2 * MINUTE - Duration::from_secs(1)).is_empty());
    let items = tick(&mut f, Duration::from_secs(1));
    assert_eq!(content_types(&items), [event::PARTICIPANT_IDLE]);
    let customer = f
        .model
        .contacts
        .get(&id)
        .and_then(|c| c.customer().cloned())
        .expect("customer");
    assert_eq!(items[0].participant_role, Some(Role::Customer));
    assert_eq!(
        items[0].participant_id.as_deref(),
        Some(customer.id.as_str())
    );
    assert_eq!(items[0].display_name.as_deref(), Some("Customer"));
    assert_eq!(items[0].item_type, ItemType::Event);
    // Idle, without a disconnect timer, is all that happens.
    assert!(tick(&mut f, 60 * MINUTE).is_empty());
    assert!(f.model.is_live(&id));
}

#[test]
fn timers_start_when_the_customer_connects_after_the_agent() {
    let mut f = Fixture::new();
    let started = f.start(None);
    let id = ContactId::from_client(&started.contact_id);
    join_agent(&mut f, &id);
    set_timers(
        &mut f,
        &id,
        serde_json::json!([timer("CUSTOMER", "IDLE", 2)]),
    )
    .expect("set");
    assert_eq!(summary_timers(&f, &id).1, None, "applied, not pending");
    f.model.take_effects();
    assert!(
        tick(&mut f, 3 * MINUTE).is_empty(),
        "customer not connected"
    );
    f.connect(&started.participant_token);
    f.model.take_effects();
    assert!(tick(&mut f, MINUTE).is_empty());
    assert_eq!(
        content_types(&tick(&mut f, MINUTE)),
        [event::PARTICIPANT_IDLE]
    );
}

#[test]
fn customer_message_restarts_the_timer_and_an_idle_customer_returns() {
    let mut f = Fixture::new();
    let (id, token) = connected(&mut f);
    set_timers(
        &mut f,
        &id,
        serde_json::json!([timer("CUSTOMER", "IDLE", 2)]),
    )
    .expect("set");
    join_agent(&mut f, &id);
    f.model.take_effects();
    f.advance(90 * Duration::from_secs(1));
    f.send(&token, "still here", None).expect("sent");
    f.model.take_effects();
    assert!(tick(&mut f, MINUTE).is_empty(), "restarted 1 min ago");
    // An agent message does not count for the customer.
    f.model
        .agent_message(
            &id,
            &ChatMessage {
                content_type: None,
                content: Some("hello?".into()),
            },
            f.now,
        )
        .expect("agent says");
    f.model.take_effects();
    assert_eq!(
        content_types(&tick(&mut f, MINUTE)),
        [event::PARTICIPANT_IDLE]
    );
    f.send(&token, "back", None).expect("sent");
    let items = broadcasts(&mut f);
    assert_eq!(
        content_types(&items),
        [event::PARTICIPANT_RETURNED, "text/plain"]
    );
    assert_eq!(items[0].participant_role, Some(Role::Customer));
    // Returned once only, and the timer runs again from the message.
    f.send(&token, "again", None).expect("sent");
    assert_eq!(content_types(&broadcasts(&mut f)), ["text/plain"]);
    assert_eq!(
        content_types(&tick(&mut f, 2 * MINUTE)),
        [event::PARTICIPANT_IDLE]
    );
    // Ending the chat removes the armed timers with the other deadlines.
    f.send(&token, "bye", None).expect("sent");
    f.model
        .disconnect(&token, &DisconnectParticipantRequest::default(), f.now)
        .expect("ends");
    assert_eq!(f.model.next_deadline(), None);
}

#[test]
fn idle_then_auto_disconnect_ends_the_chat_and_keeps_timer_events_out_of_transcripts() {
    let mut f = Fixture::with(SimConfig {
        transcript_after_end: true,
        ..SimConfig::default()
    });
    let (id, token) = connected(&mut f);
    set_timers(
        &mut f,
        &id,
        serde_json::json!([
            timer("CUSTOMER", "IDLE", 2),
            timer("CUSTOMER", "DISCONNECT_NONCUSTOMER", 3),
        ]),
    )
    .expect("set");
    let agent = join_agent(&mut f, &id);
    f.model.take_effects();
    assert_eq!(
        content_types(&tick(&mut f, 2 * MINUTE)),
        [event::PARTICIPANT_IDLE]
    );
    // The disconnect timer started at idle: a return stops it.
    f.send(&token, "here", None).expect("sent");
    f.model.take_effects();
    assert_eq!(
        content_types(&tick(&mut f, 2 * MINUTE)),
        [event::PARTICIPANT_IDLE]
    );
    assert!(tick(&mut f, 3 * MINUTE - Duration::from_secs(1)).is_empty());
    f.advance(Duration::from_secs(1));
    assert_eq!(f.model.expire(f.now), 1, "the chat ended");
    let effects = f.model.take_effects();
    assert!(matches!(effects.last(), Some(Effect::CloseSockets { .. })));
    let items: Vec<Item> = effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Broadcast { item, .. } => Some(*item),
            Effect::CloseSockets { .. } | Effect::Archive(_) => None,
        })
        .collect();
    assert_eq!(
        content_types(&items),
        [
            event::PARTICIPANT_AUTODISCONNECTION,
            event::PARTICIPANT_LEFT,
            event::PARTICIPANT_LEFT,
            event::CHAT_ENDED,
        ]
    );
    assert_eq!(items[0].participant_role, Some(Role::Customer));
    assert_eq!(items[1].participant_id.as_deref(), Some(agent.as_str()));
    assert_eq!(items[2].participant_role, Some(Role::Customer));
    assert_eq!(
        f.model.next_deadline(),
        None,
        "every deadline of the chat gone"
    );
    let transcript = f
        .model
        .get_transcript(
            &token,
            &GetTranscriptRequest {
                max_results: Some(100),
                ..GetTranscriptRequest::default()
            },
            f.now,
        )
        .expect("readable after the end")
        .transcript;
    let stored = content_types(&transcript);
    assert!(stored.iter().any(|t| t == event::CHAT_ENDED), "{stored:?}");
    for timer_event in [
        event::PARTICIPANT_IDLE,
        event::PARTICIPANT_RETURNED,
        event::PARTICIPANT_AUTODISCONNECTION,
    ] {
        assert!(!stored.iter().any(|t| t == timer_event), "{stored:?}");
    }
    let summary = f.model.contact_summary(&id).expect("contact");
    assert_eq!(summary.status, Status::Ended);
}

#[test]
fn config_set_while_agent_and_customer_are_connected_waits_for_a_new_agent() {
    let mut f = Fixture::new();
    let (id, _) = connected(&mut f);
    set_timers(&mut f, &id, serde_json::json!([timer("AGENT", "IDLE", 30)])).expect("set");
    join_agent(&mut f, &id);
    set_timers(
        &mut f,
        &id,
        serde_json::json!([timer("CUSTOMER", "IDLE", 2)]),
    )
    .expect("stored");
    set_timers(&mut f, &id, serde_json::json!([unset("AGENT", "IDLE")])).expect("stored");
    let summary = f.model.contact_summary(&id).expect("contact");
    assert_eq!(
        summary.timers,
        [api::TimerSummary {
            participant_role: TimerRole::Agent,
            timer_type: timers::TimerType::Idle,
            duration_in_minutes: 30,
        }]
    );
    assert_eq!(
        summary.pending_timers,
        Some(vec![api::TimerSummary {
            participant_role: TimerRole::Customer,
            timer_type: timers::TimerType::Idle,
            duration_in_minutes: 2,
        }])
    );
    f.model.take_effects();
    assert!(
        tick(&mut f, 10 * MINUTE).is_empty(),
        "customer timer not applied"
    );
    // The agent joined before the update: its 30-minute timer still runs.
    let items = tick(&mut f, 20 * MINUTE);
    assert_eq!(content_types(&items), [event::PARTICIPANT_IDLE]);
    assert_eq!(items[0].participant_role, Some(Role::Agent));
}

#[test]
fn agent_idle_and_agent_auto_disconnect_mirror_the_customer_timers() {
    let mut f = Fixture::new();
    let (id, token) = connected(&mut f);
    set_timers(&mut f, &id, serde_json::json!([timer("AGENT", "IDLE", 2)])).expect("set");
    let agent = join_agent(&mut f, &id);
    f.model.take_effects();
    f.advance(MINUTE);
    f.model
        .agent_message(
            &id,
            &ChatMessage {
                content_type: None,
                content: Some("one moment".into()),
            },
            f.now,
        )
        .expect("agent says");
    // A customer message does not count for the agent.
    f.send(&token, "ok", None).expect("sent");
    f.model.take_effects();
    assert!(tick(&mut f, MINUTE + Duration::from_secs(59)).is_empty());
    let items = tick(&mut f, Duration::from_secs(1));
    assert_eq!(content_types(&items), [event::PARTICIPANT_IDLE]);
    assert_eq!(items[0].participant_role, Some(Role::Agent));
    assert_eq!(items[0].participant_id.as_deref(), Some(agent.as_str()));
    assert_eq!(items[0].display_name.as_deref(), Some("Agent Smith"));
    f.model
        .agent_message(
            &id,
            &ChatMessage {
                content_type: None,
                content: Some("back".into()),
            },
            f.now,
        )
        .expect("agent says");
    let items = broadcasts(&mut f);
    assert_eq!(
        content_types(&items),
        [event::PARTICIPANT_RETURNED, "text/plain"]
    );
    assert_eq!(items[0].participant_role, Some(Role::Agent));

    // A disconnect timer alone starts at once (here: when the agent joins).
    let mut g = Fixture::new();
    let (other, _) = connected(&mut g);
    set_timers(
        &mut g,
        &other,
        serde_json::json!([timer("AGENT", "DISCONNECT_NONCUSTOMER", 3)]),
    )
    .expect("set");
    join_agent(&mut g, &other);
    g.model.take_effects();
    assert!(tick(&mut g, 3 * MINUTE - Duration::from_secs(1)).is_empty());
    let items = tick(&mut g, Duration::from_secs(1));
    assert_eq!(
        content_types(&items),
        [
            event::PARTICIPANT_AUTODISCONNECTION,
            event::PARTICIPANT_LEFT,
            event::PARTICIPANT_LEFT,
            event::CHAT_ENDED,
        ]
    );
    assert_eq!(items[0].participant_role, Some(Role::Agent));
    assert!(!g.model.is_live(&other));
}
