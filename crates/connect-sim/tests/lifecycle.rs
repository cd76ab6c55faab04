#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Lifecycle rules with shortened timers or the movable clock: customer-connect timeout,
//! chat duration, chat idle timers (UpdateParticipantRoleConfig), token and URL expiry,
//! socket limits, idle timeout, fault switches, reset.

mod common;

use std::time::Duration;

use aws_sdk_connect::types::ParticipantDetails;
use aws_sdk_connect::types::{
    ChatParticipantRoleConfig, ParticipantTimerConfiguration, ParticipantTimerType,
    ParticipantTimerValue, TimerEligibleParticipantRoles, UpdateParticipantRoleConfigChannelInfo,
};
use common::{ENDED, FLOW, Harness, INSTANCE, JOINED, LEFT, Socket};
use connect_sim::SimConfig;
use serde_json::json;
use tokio_tungstenite::tungstenite;

async fn advance(h: &Harness, seconds: f64) -> serde_json::Value {
    let (status, body) = h
        .sim_post("/sim/clock/advance", json!({"Seconds": seconds}))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn customer_who_never_connects_is_ended_by_the_reaper() {
    // GIVEN a 300 ms customer-connect timeout (real time: this exercises the reaper task).
    let h = Harness::with(SimConfig {
        customer_connect_timeout: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await;
    let started = h.start_chat("Ghost").await;
    let contact = started.contact_id().unwrap();
    // WHEN nobody connects, THEN the long poll sees the chat end.
    let (status, summary) = h
        .sim_get(&format!(
            "/sim/contacts/{contact}?WaitFor=ENDED&TimeoutMs=10000"
        ))
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["Status"], "ENDED");
    let items = h.transcript(contact).await;
    assert_eq!(items.last().unwrap()["ContentType"], ENDED);
    // AND the participant token no longer works.
    let err = h
        .participant
        .create_participant_connection()
        .participant_token(started.participant_token().unwrap())
        .r#type(aws_sdk_connectparticipant::types::ConnectionType::ConnectionCredentials)
        .send()
        .await
        .expect_err("ended");
    assert!(err.into_service_error().is_access_denied_exception());
}

#[tokio::test]
async fn connected_customer_survives_the_connect_timeout() {
    let h = Harness::start().await;
    let (contact, _, _) = h.connected_chat("Ann").await;
    let body = advance(&h, 301.0).await;
    assert_eq!(body["EndedChats"], 0);
    assert_eq!(h.contact(&contact).await["Status"], "CONNECTED");
}

#[tokio::test]
async fn chat_duration_ends_the_chat_and_closes_sockets() {
    let h = Harness::start().await;
    let started = h
        .connect
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id(FLOW)
        .participant_details(
            ParticipantDetails::builder()
                .display_name("Ann")
                .build()
                .unwrap(),
        )
        .chat_duration_in_minutes(60)
        .send()
        .await
        .expect("started");
    let (url, _) = h
        .connect_participant(started.participant_token().unwrap())
        .await;
    let mut socket = Socket::subscribed(&url).await;
    assert_eq!(advance(&h, 59.0 * 60.0).await["EndedChats"], 0);
    assert_eq!(advance(&h, 61.0).await["EndedChats"], 1);
    socket.item_of_type(ENDED).await;
    assert_eq!(
        u16::from(socket.closed().await.expect("close frame").code),
        1000
    );
}

#[tokio::test]
async fn expired_connection_token_is_access_denied() {
    let h = Harness::with(SimConfig {
        connection_token_ttl: Duration::from_secs(60),
        ..SimConfig::default()
    })
    .await;
    let (_, _, token) = h.connected_chat("Ann").await;
    advance(&h, 61.0).await;
    let err = h
        .participant
        .send_message()
        .connection_token(&token)
        .content_type("text/plain")
        .content("late")
        .send()
        .await
        .expect_err("expired");
    assert!(err.into_service_error().is_access_denied_exception());
}

const IDLE: &str = "application/vnd.amazonaws.connect.event.participant.idle";
const AUTODISCONNECTION: &str =
    "application/vnd.amazonaws.connect.event.participant.autodisconnection";

/// A `ChannelConfiguration` with these chat timers.
fn chat_timers(
    timers: &[(TimerEligibleParticipantRoles, ParticipantTimerType, i32)],
) -> UpdateParticipantRoleConfigChannelInfo {
    let list = timers
        .iter()
        .map(|(role, timer_type, minutes)| {
            ParticipantTimerConfiguration::builder()
                .participant_role(role.clone())
                .timer_type(timer_type.clone())
                .timer_value(ParticipantTimerValue::ParticipantTimerDurationInMinutes(
                    *minutes,
                ))
                .build()
                .unwrap()
        })
        .collect();
    UpdateParticipantRoleConfigChannelInfo::Chat(
        ChatParticipantRoleConfig::builder()
            .set_participant_timer_config_list(Some(list))
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn idle_timers_mark_the_customer_idle_then_end_the_chat() {
    use ParticipantTimerType::{DisconnectNoncustomer, Idle};
    use TimerEligibleParticipantRoles::Customer;
    let h = Harness::start().await;
    let (contact, url, _) = h.connected_chat("Ann").await;
    let mut socket = Socket::subscribed(&url).await;
    // GIVEN customer timers set through the SDK: idle after 2 minutes, then the
    // auto-disconnect 3 minutes later.
    h.connect
        .update_participant_role_config()
        .instance_id(INSTANCE)
        .contact_id(&contact)
        .channel_configuration(chat_timers(&[
            (Customer, Idle, 2),
            (Customer, DisconnectNoncustomer, 3),
        ]))
        .send()
        .await
        .expect("UpdateParticipantRoleConfig");
    assert_eq!(
        h.contact(&contact).await["Timers"],
        json!([
            {"ParticipantRole": "CUSTOMER", "TimerType": "IDLE", "DurationInMinutes": 2},
            {
                "ParticipantRole": "CUSTOMER",
                "TimerType": "DISCONNECT_NONCUSTOMER",
                "DurationInMinutes": 3,
            },
        ])
    );
    // Without an agent the timers do not run.
    assert_eq!(advance(&h, 180.0).await["EndedChats"], 0);
    let (status, joined) = h
        .sim_post(&format!("/sim/contacts/{contact}/agent/join"), json!({}))
        .await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(socket.next_item().await["ContentType"], JOINED);
    // WHEN two minutes pass (the agent's messages do not count for the customer)
    advance(&h, 119.0).await;
    h.agent_says(&contact, "at 1:59").await;
    advance(&h, 1.0).await;
    // THEN the customer's socket sees it marked idle, after the message of 1:59.
    assert_eq!(socket.next_item().await["Content"], "at 1:59");
    let idle = socket.next_item().await;
    assert_eq!(idle["ContentType"], IDLE, "{idle}");
    assert_eq!(idle["ParticipantRole"], "CUSTOMER");
    assert_eq!(idle["DisplayName"], "Ann");
    assert_eq!(idle["Type"], "EVENT");
    // AND three minutes later the auto-disconnect ends the chat.
    assert_eq!(advance(&h, 179.0).await["EndedChats"], 0);
    h.agent_says(&contact, "at 4:59").await;
    assert_eq!(advance(&h, 1.0).await["EndedChats"], 1);
    assert_eq!(socket.next_item().await["Content"], "at 4:59");
    let kinds = [
        socket.next_item().await,
        socket.next_item().await,
        socket.next_item().await,
        socket.next_item().await,
    ]
    .map(|item| (item["ContentType"].clone(), item["ParticipantRole"].clone()));
    assert_eq!(
        kinds,
        [
            (json!(AUTODISCONNECTION), json!("CUSTOMER")),
            (json!(LEFT), json!("AGENT")),
            (json!(LEFT), json!("CUSTOMER")),
            (json!(ENDED), json!("SYSTEM")),
        ]
    );
    assert_eq!(
        u16::from(socket.closed().await.expect("close frame").code),
        1000
    );
    let transcript = h.transcript(&contact).await;
    assert!(transcript.iter().all(|item| item["ContentType"] != IDLE));
    // AND the SDK maps the refusals to the operation's typed errors.
    let update = |contact: &str, minutes| {
        h.connect
            .update_participant_role_config()
            .instance_id(INSTANCE)
            .contact_id(contact)
            .channel_configuration(chat_timers(&[(Customer, Idle, minutes)]))
            .send()
    };
    let ended = update(&contact, 5).await.expect_err("ended");
    assert!(ended.into_service_error().is_invalid_request_exception());
    let unknown = update("no-such-contact", 5).await.expect_err("unknown");
    assert!(
        unknown
            .into_service_error()
            .is_resource_not_found_exception()
    );
    let (live, _, _) = h.connected_chat("Bob").await;
    let short = update(&live, 1).await.expect_err("1 minute");
    assert!(short.into_service_error().is_invalid_parameter_exception());
    // A union with both members cannot be built with the SDK; over plain HTTP it is a 400.
    let both = h
        .http
        .put(h.url(&format!(
            "/contact/participant-role-config/{INSTANCE}/{live}"
        )))
        .json(
            &json!({"ChannelConfiguration": {"Chat": {"ParticipantTimerConfigList": [{
                "ParticipantRole": "AGENT",
                "TimerType": "IDLE",
                "TimerValue": {
                    "ParticipantTimerAction": "Unset",
                    "ParticipantTimerDurationInMinutes": 5,
                },
            }]}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(both.status().as_u16(), 400);
    assert_eq!(
        both.headers()["x-amzn-errortype"],
        "InvalidParameterException"
    );
}

fn refused_status(result: Result<impl Sized, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected the upgrade to be refused"),
    }
}

#[tokio::test]
async fn websocket_url_is_single_use_and_expires() {
    let h = Harness::start().await;
    let started = h.start_chat("Ann").await;
    let (url, _) = h
        .connect_participant(started.participant_token().unwrap())
        .await;
    let first = Socket::open(&url).await;
    assert_eq!(
        refused_status(tokio_tungstenite::connect_async(&url).await),
        403
    );
    drop(first);
    let (late, _) = h
        .connect_participant(started.participant_token().unwrap())
        .await;
    advance(&h, 101.0).await;
    assert_eq!(
        refused_status(tokio_tungstenite::connect_async(&late).await),
        403
    );
    let (_, stats) = h.sim_get("/sim/stats").await;
    assert_eq!(stats["SocketsRefusedTotal"], 2);
}

#[tokio::test]
async fn websocket_of_an_ended_chat_is_refused() {
    let h = Harness::start().await;
    let started = h.start_chat("Ann").await;
    let contact = started.contact_id().unwrap();
    let (url, _) = h
        .connect_participant(started.participant_token().unwrap())
        .await;
    h.sim_post(&format!("/sim/contacts/{contact}/end"), json!({}))
        .await;
    assert_eq!(
        refused_status(tokio_tungstenite::connect_async(&url).await),
        403
    );
}

#[tokio::test]
async fn sixth_socket_of_a_participant_closes_the_oldest() {
    let h = Harness::start().await;
    let started = h.start_chat("Ann").await;
    let token = started.participant_token().unwrap();
    let mut sockets = Vec::new();
    for _ in 0..5 {
        let (url, _) = h.connect_participant(token).await;
        sockets.push(Socket::subscribed(&url).await);
    }
    let (url, _) = h.connect_participant(token).await;
    let mut sixth = Socket::subscribed(&url).await;
    let close = sockets[0]
        .closed()
        .await
        .expect("oldest gets a close frame");
    assert_eq!(u16::from(close.code), 1000);
    // The other five still answer.
    for socket in sockets[1..].iter_mut().chain(std::iter::once(&mut sixth)) {
        socket.send(json!({"topic": "aws/heartbeat"})).await;
        assert_eq!(socket.next_json().await["topic"], "aws/heartbeat");
    }
    let (_, stats) = h.sim_get("/sim/stats").await;
    assert_eq!(stats["SocketsOpen"], 5);
    assert_eq!(stats["SocketsReplacedTotal"], 1);
}

#[tokio::test]
async fn every_socket_of_every_participant_gets_the_frames() {
    let h = Harness::start().await;
    let started = h.start_chat("Ann").await;
    let contact = started.contact_id().unwrap();
    let token = started.participant_token().unwrap();
    let (url_a, _) = h.connect_participant(token).await;
    let (url_b, _) = h.connect_participant(token).await;
    let mut a = Socket::subscribed(&url_a).await;
    let mut b = Socket::subscribed(&url_b).await;
    let sent = h.agent_says(contact, "to both").await;
    assert_eq!(a.item_of_type("text/plain").await["Id"], sent["Id"]);
    assert_eq!(b.item_of_type("text/plain").await["Id"], sent["Id"]);
}

#[tokio::test]
async fn idle_socket_is_closed() {
    let h = Harness::with(SimConfig {
        idle_socket_timeout: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await;
    let (_, url, _) = h.connected_chat("Ann").await;
    let mut socket = Socket::open(&url).await;
    let close = socket.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), 1000);
    assert_eq!(close.reason.as_str(), "idle timeout");
}

#[tokio::test]
async fn muted_heartbeats_get_no_answer_while_pings_still_do() {
    let h = Harness::start().await;
    let (_, url, _) = h.connected_chat("Ann").await;
    let mut socket = Socket::subscribed(&url).await;
    let (status, state) = h.sim_post("/sim/sockets/mute", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(state, json!({"Heartbeats": true, "Pings": false}));
    socket.send(json!({"topic": "aws/heartbeat"})).await;
    socket.send(json!({"topic": "aws/ping"})).await;
    // Replies keep request order, so a ping reply first means the heartbeat got none.
    assert_eq!(socket.next_json().await["topic"], "aws/ping");
    let unmuted = h
        .http
        .delete(h.url("/sim/sockets/mute"))
        .send()
        .await
        .unwrap();
    assert_eq!(unmuted.status().as_u16(), 200);
    socket.send(json!({"topic": "aws/heartbeat"})).await;
    assert_eq!(socket.next_json().await["topic"], "aws/heartbeat");
}

#[tokio::test]
async fn dropped_sockets_close_without_a_close_frame() {
    let h = Harness::start().await;
    let (_, url, _) = h.connected_chat("Ann").await;
    let mut socket = Socket::subscribed(&url).await;
    let (status, body) = h.sim_post("/sim/sockets/drop", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["Dropped"], 1);
    assert!(
        socket.closed().await.is_none(),
        "abrupt close has no close frame"
    );
}

#[tokio::test]
async fn reset_forgets_everything() {
    let h = Harness::start().await;
    let (contact, url, token) = h.connected_chat("Ann").await;
    let mut socket = Socket::subscribed(&url).await;
    let (status, _) = h.sim_post("/sim/reset", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        u16::from(socket.closed().await.expect("close frame").code),
        1001
    );
    let (_, contacts) = h.sim_get("/sim/contacts").await;
    assert_eq!(contacts, json!([]));
    let (status, _) = h.sim_get(&format!("/sim/contacts/{contact}")).await;
    assert_eq!(status, 404);
    let err = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .send()
        .await
        .expect_err("token forgotten");
    assert!(err.into_service_error().is_access_denied_exception());
}

#[tokio::test]
async fn shutdown_closes_sockets_with_going_away() {
    let h = Harness::start().await;
    let (_, url, _) = h.connected_chat("Ann").await;
    let mut socket = Socket::subscribed(&url).await;
    let Harness { sim, .. } = h;
    let closing = tokio::spawn(async move { socket.closed().await });
    sim.shutdown().await.expect("clean shutdown");
    let close = closing.await.unwrap().expect("close frame");
    assert_eq!(u16::from(close.code), 1001);
}
