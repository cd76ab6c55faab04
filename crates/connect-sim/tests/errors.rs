#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Typed errors through the real SDKs: each emulator error must select the SDK's typed
//! variant, and idempotency must hold for retried calls.

mod common;

use aws_sdk_connect::error::ProvideErrorMetadata;
use aws_sdk_connect::types::{ParticipantDetails, PersistentChat, RehydrationType};
use aws_sdk_connectparticipant::types::{ConnectionType, ScanDirection, SortKey};
use common::{FLOW, Harness, INSTANCE, Socket};
use connect_sim::SimConfig;
use serde_json::json;

fn details(name: &str) -> ParticipantDetails {
    ParticipantDetails::builder()
        .display_name(name)
        .build()
        .unwrap()
}

#[tokio::test]
async fn message_to_an_ended_chat_is_access_denied() {
    let h = Harness::start().await;
    let (contact_id, _, token) = h.connected_chat("Ann").await;
    let (status, _) = h
        .sim_post(&format!("/sim/contacts/{contact_id}/end"), json!({}))
        .await;
    assert_eq!(status, 200);
    let err = h
        .participant
        .send_message()
        .connection_token(&token)
        .content_type("text/plain")
        .content("hello?")
        .send()
        .await
        .expect_err("ended");
    let err = err.into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");
    for result in [
        h.participant
            .get_transcript()
            .connection_token(&token)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.into_service_error().is_access_denied_exception()),
        h.participant
            .send_event()
            .connection_token(&token)
            .content_type(common::TYPING)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.into_service_error().is_access_denied_exception()),
    ] {
        assert_eq!(result, Err(true));
    }
}

#[tokio::test]
async fn message_of_1025_characters_is_a_validation_error() {
    let h = Harness::start().await;
    let (_, _, token) = h.connected_chat("Ann").await;
    let err = h
        .participant
        .send_message()
        .connection_token(&token)
        .content_type("text/plain")
        .content("x".repeat(1025))
        .send()
        .await
        .expect_err("too long");
    let err = err.into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    h.participant
        .send_message()
        .connection_token(&token)
        .content_type("text/plain")
        .content("x".repeat(1024))
        .send()
        .await
        .expect("1024 is fine");
}

#[tokio::test]
async fn bad_tokens_are_access_denied() {
    let h = Harness::start().await;
    let err = h
        .participant
        .send_message()
        .connection_token("not-a-token")
        .content_type("text/plain")
        .content("hi")
        .send()
        .await
        .expect_err("bad token");
    assert!(err.into_service_error().is_access_denied_exception());
    let err = h
        .participant
        .create_participant_connection()
        .participant_token("not-a-token")
        .r#type(ConnectionType::ConnectionCredentials)
        .send()
        .await
        .expect_err("bad participant token");
    assert!(err.into_service_error().is_access_denied_exception());
    // The wrong kind of token (a ParticipantToken where a ConnectionToken belongs) too.
    let started = h.start_chat("Ann").await;
    let err = h
        .participant
        .send_message()
        .connection_token(started.participant_token().unwrap())
        .content_type("text/plain")
        .content("hi")
        .send()
        .await
        .expect_err("wrong token kind");
    assert!(err.into_service_error().is_access_denied_exception());
}

#[tokio::test]
async fn send_message_client_token_replay_returns_the_same_id_once() {
    let h = Harness::start().await;
    let (contact_id, url, token) = h.connected_chat("Ann").await;
    let mut socket = Socket::subscribed(&url).await;
    let send = || {
        h.participant
            .send_message()
            .connection_token(&token)
            .content_type("text/plain")
            .content("only once")
            .client_token("sms-inbound-42")
            .send()
    };
    let first = send().await.expect("first");
    let second = send().await.expect("replay");
    assert_eq!(first.id(), second.id());
    assert_eq!(first.absolute_time(), second.absolute_time());
    let copies = h
        .transcript(&contact_id)
        .await
        .into_iter()
        .filter(|i| i["Content"] == "only once")
        .count();
    assert_eq!(copies, 1);
    // Exactly one broadcast: the next item after the echo is the marker, not a second echo.
    let echo = socket.item_of_type("text/plain").await;
    assert_eq!(echo["Id"], first.id().unwrap());
    h.agent_says(&contact_id, "marker").await;
    assert_eq!(socket.next_item().await["ContentType"], common::JOINED);
    assert_eq!(socket.next_item().await["Content"], "marker");
}

#[tokio::test]
async fn start_chat_client_token_replay_returns_the_same_contact() {
    let h = Harness::start().await;
    let start = || {
        h.connect
            .start_chat_contact()
            .instance_id(INSTANCE)
            .contact_flow_id(FLOW)
            .participant_details(details("Ann"))
            .client_token("start-ann-1")
            .send()
    };
    let first = start().await.expect("first");
    let second = start().await.expect("replay");
    assert_eq!(first.contact_id(), second.contact_id());
    assert_eq!(first.participant_token(), second.participant_token());
    let (_, contacts) = h.sim_get("/sim/contacts").await;
    assert_eq!(contacts.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn start_chat_validation_is_invalid_request() {
    let h = Harness::start().await;
    let short = h
        .connect
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id(FLOW)
        .participant_details(details("Ann"))
        .chat_duration_in_minutes(30)
        .send()
        .await
        .expect_err("duration below 60");
    assert!(short.into_service_error().is_invalid_request_exception());
    let no_plain = h
        .connect
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id(FLOW)
        .participant_details(details("Ann"))
        .supported_messaging_content_types("text/markdown")
        .send()
        .await
        .expect_err("text/plain missing");
    assert!(no_plain.into_service_error().is_invalid_request_exception());
}

#[tokio::test]
async fn persistent_chat_rules_and_rehydrated_history() {
    let h = Harness::start().await;
    let (old_contact, _, old_token) = h.connected_chat("Ann").await;
    h.participant
        .send_message()
        .connection_token(&old_token)
        .content_type("text/plain")
        .content("from the first chat")
        .send()
        .await
        .expect("sent");
    let persistent = |source: &str, kind: RehydrationType| {
        PersistentChat::builder()
            .source_contact_id(source)
            .rehydration_type(kind)
            .build()
    };
    let start = |chat: PersistentChat| {
        h.connect
            .start_chat_contact()
            .instance_id(INSTANCE)
            .contact_flow_id(FLOW)
            .participant_details(details("Ann"))
            .persistent_chat(chat)
            .send()
    };

    // Source still active → InvalidRequestException.
    let active = start(persistent(&old_contact, RehydrationType::EntirePastSession))
        .await
        .expect_err("source active");
    assert!(active.into_service_error().is_invalid_request_exception());
    // Unknown source → ResourceNotFoundException.
    let unknown = start(persistent("no-such-contact", RehydrationType::FromSegment))
        .await
        .expect_err("unknown source");
    assert!(
        unknown
            .into_service_error()
            .is_resource_not_found_exception()
    );
    // RelatedContactId together with PersistentChat → InvalidRequestException.
    let both = h
        .connect
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id(FLOW)
        .participant_details(details("Ann"))
        .persistent_chat(persistent(&old_contact, RehydrationType::FromSegment))
        .related_contact_id(&old_contact)
        .send()
        .await
        .expect_err("exclusive");
    assert!(both.into_service_error().is_invalid_request_exception());

    // After the source ended, the new chat continues it.
    h.participant
        .disconnect_participant()
        .connection_token(&old_token)
        .send()
        .await
        .expect("ends");
    let new = start(persistent(&old_contact, RehydrationType::EntirePastSession))
        .await
        .expect("continues");
    assert_eq!(new.continued_from_contact_id(), Some(old_contact.as_str()));
    let (_, new_token) = h
        .connect_participant(new.participant_token().unwrap())
        .await;
    let first = h
        .participant
        .get_transcript()
        .connection_token(&new_token)
        .send()
        .await
        .expect("first page");
    assert!(
        first
            .transcript()
            .iter()
            .all(|i| i.contact_id() == new.contact_id())
    );
    let token = first.next_token().expect("past messages exist").to_owned();
    let past = h
        .participant
        .get_transcript()
        .connection_token(&new_token)
        .next_token(token)
        .scan_direction(ScanDirection::Backward)
        .sort_order(SortKey::Ascending)
        .send()
        .await
        .expect("past page");
    let old_message = past
        .transcript()
        .iter()
        .find(|i| i.content() == Some("from the first chat"))
        .expect("past message");
    assert_eq!(old_message.related_contact_id(), Some(old_contact.as_str()));
    assert!(old_message.contact_id().is_none());
    let (_, summary) = h
        .sim_get(&format!("/sim/contacts/{}", new.contact_id().unwrap()))
        .await;
    assert_eq!(summary["ContinuedFromContactId"], old_contact.as_str());
}

#[tokio::test]
async fn stop_contact_of_unknown_contact_is_not_found() {
    let h = Harness::start().await;
    let err = h
        .connect
        .stop_contact()
        .instance_id(INSTANCE)
        .contact_id("00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .expect_err("unknown");
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn quotas_answer_429_throttling() {
    let h = Harness::with(SimConfig {
        quotas: true,
        ..SimConfig::default()
    })
    .await;
    let (_, _, token) = h.connected_chat("Ann").await;
    let mut throttled = None;
    // The SendMessage bucket holds a burst of 15 at 10/s; 40 back-to-back calls must hit it.
    for i in 0..40 {
        let result = h
            .participant
            .send_message()
            .connection_token(&token)
            .content_type("text/plain")
            .content(format!("m{i}"))
            .send()
            .await;
        if let Err(err) = result {
            throttled = Some((i, err.into_service_error()));
            break;
        }
    }
    let (at, err) = throttled.expect("a call was throttled");
    assert!(
        at >= 15,
        "the first 15 calls fit the burst, throttled at {at}"
    );
    assert!(err.is_throttling_exception(), "{err:?}");

    // Admin TPS throttling is TooManyRequestsException (not modelled: generic with a code).
    let mut admin = None;
    for _ in 0..30 {
        if let Err(err) = h
            .connect
            .start_chat_contact()
            .instance_id(INSTANCE)
            .contact_flow_id(FLOW)
            .participant_details(details("Bo"))
            .send()
            .await
        {
            admin = Some(err.into_service_error());
            break;
        }
    }
    let admin = admin.expect("StartChatContact throttled");
    assert_eq!(admin.code(), Some("TooManyRequestsException"), "{admin:?}");
}

#[tokio::test]
async fn concurrent_chat_limit_is_limit_exceeded() {
    let h = Harness::with(SimConfig {
        concurrent_chat_limit: Some(2),
        ..SimConfig::default()
    })
    .await;
    h.start_chat("a").await;
    h.start_chat("b").await;
    let err = h
        .connect
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id(FLOW)
        .participant_details(details("c"))
        .send()
        .await
        .expect_err("over the limit");
    assert!(err.into_service_error().is_limit_exceeded_exception());
}

#[tokio::test]
async fn injected_faults_surface_as_typed_errors_then_clear() {
    let h = Harness::start().await;
    let (_, _, token) = h.connected_chat("Ann").await;
    let (status, body) = h
        .sim_post(
            "/sim/faults",
            json!({"Operation": "SendMessage", "Status": 500, "Count": 2}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for _ in 0..2 {
        let err = h
            .participant
            .send_message()
            .connection_token(&token)
            .content_type("text/plain")
            .content("hi")
            .send()
            .await
            .expect_err("fault");
        assert!(err.into_service_error().is_internal_server_exception());
    }
    h.participant
        .send_message()
        .connection_token(&token)
        .content_type("text/plain")
        .content("hi")
        .send()
        .await
        .expect("faults used up");

    let (status, _) = h
        .sim_post(
            "/sim/faults",
            json!({"Operation": "StartChatContact", "Status": 429, "Count": 5}),
        )
        .await;
    assert_eq!(status, 200);
    let err = h
        .connect
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id(FLOW)
        .participant_details(details("Bo"))
        .send()
        .await
        .expect_err("fault");
    assert!(err.into_service_error().is_limit_exceeded_exception());
    let cleared = h
        .http
        .delete(h.url("/sim/faults"))
        .send()
        .await
        .expect("delete");
    assert_eq!(cleared.status().as_u16(), 200);
    h.start_chat("Bo").await;

    let (status, body) = h
        .sim_post("/sim/faults", json!({"Operation": "Nope", "Status": 500}))
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn raw_error_responses_have_the_aws_shape() {
    let h = Harness::start().await;
    let response = h
        .http
        .post(h.url("/participant/message"))
        .header("X-Amz-Bearer", "nope")
        .json(&json!({"ContentType": "text/plain", "Content": "hi"}))
        .send()
        .await
        .expect("reachable");
    assert_eq!(response.status().as_u16(), 403);
    let headers = response.headers().clone();
    assert_eq!(headers["x-amzn-errortype"], "AccessDeniedException");
    assert!(headers.contains_key("x-amzn-requestid"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert!(body["message"].is_string() && body["Message"].is_string());
}
