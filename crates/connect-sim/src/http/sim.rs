//! The agent control API under `/sim` (a contract for tests, the demo and the console).
//!
//! Shapes (JSON, PascalCase, no auth):
//! - `GET /sim/contacts` → `[{ContactId, InitialContactId, Status, Attributes,
//!   CustomerDisplayName, StartedAt, EndedAt?, AgentDisplayName?, ContinuedFromContactId?,
//!   Timers, PendingTimers?}]`; a timer is `{ParticipantRole, TimerType, DurationInMinutes}`
//!   (UpdateParticipantRoleConfig, docs/connect-chat.md §6.1)
//! - `GET /sim/contacts/{ContactId}` → one of those plus `SubscribedSockets`; with
//!   `?WaitFor=ENDED` and/or `?WaitForSubscribers=N` (and `TimeoutMs`, default 5000) it
//!   long-polls until the status is reached and at least N participant sockets are subscribed
//!   (408 TimeoutException otherwise).
//! - `POST /sim/contacts/{ContactId}/agent/join` `{DisplayName?}` → `{ParticipantId, DisplayName}`
//! - `POST /sim/contacts/{ContactId}/agent/messages` `{Content, ContentType?}` → `{Id, AbsoluteTime}`
//!   (joins the agent first when needed; ContentType defaults to `text/plain`)
//! - `POST /sim/contacts/{ContactId}/agent/events` `{ContentType, Content?}` → `{Id, AbsoluteTime}`
//!   (typing, or a delivered/read receipt with `{"messageId":…}` content)
//! - `POST /sim/contacts/{ContactId}/end` → `{}`
//! - `GET /sim/contacts/{ContactId}/transcript` → `{InitialContactId, Transcript: [Item…]}`,
//!   every stored item oldest first, items shaped exactly as in GetTranscript
//! - `POST /sim/faults` `{Operation, Status?, ErrorType?, Count?, DelayMs?, Message?}` → `{}`;
//!   `DELETE /sim/faults` → `{}`
//! - `POST /sim/sockets/drop` → `{Dropped}`; `POST /sim/sockets/mute` `{Heartbeats?, Pings?}`
//!   and `DELETE /sim/sockets/mute` → `{Heartbeats, Pings}`
//! - `POST /sim/quotas` `{Enabled}` → `{Enabled}`
//! - `POST /sim/clock/advance` `{Seconds}` → `{OffsetMs, EndedChats}`
//! - `GET /sim/sms/messages` → `[{MessageId, DestinationPhoneNumber, OriginationIdentity?,
//!   MessageBody, MessageType?, ConfigurationSetName?, Context?, TimeToLive?,
//!   FinalEventType?}]`, every text SendTextMessage accepted, oldest first (request members
//!   as given; `FinalEventType` absent while pending)
//! - `POST /sim/sms/failures` `{PhoneNumber, EventType?}` → the same: texts to the number end
//!   with that `TEXT_*` failure event (`EventType` null or absent: delivered again)
//! - `POST /sim/sms/opt-outs` `{PhoneNumber, OptedOut}` → the same: SendTextMessage to an
//!   opted-out number answers ConflictException `DESTINATION_PHONE_NUMBER_OPTED_OUT`
//! - `POST /sim/reset` → `{}`; `GET /sim/stats` → counters
//!
//! Errors use the same JSON shape as the AWS APIs (`x-amzn-ErrorType`, `message`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{empty_json, parse_body};
use crate::error::ApiError;
use crate::faults::{FaultRequest, MuteState};
use crate::hub::{HubStats, Kill, RESET};
use crate::model::api::{
    AgentJoinRequest, AgentJoinResponse, ChatMessage, ContactSummary, FullTranscript,
    SendEventRequest, SendResponse,
};
use crate::model::contact::Status;
use crate::model::ids::ContactId;
use crate::sms::EventType;
use crate::sms::service::SentText;
use crate::state::Shared;

/// Longest accepted long poll.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// The `/sim` routes.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sim/contacts", get(list_contacts))
        .route("/sim/contacts/{id}", get(get_contact))
        .route("/sim/contacts/{id}/agent/join", post(agent_join))
        .route("/sim/contacts/{id}/agent/messages", post(agent_message))
        .route("/sim/contacts/{id}/agent/events", post(agent_event))
        .route("/sim/contacts/{id}/end", post(end_contact))
        .route("/sim/contacts/{id}/transcript", get(transcript))
        .route("/sim/faults", post(add_fault).delete(clear_faults))
        .route("/sim/sockets/drop", post(drop_sockets))
        .route("/sim/sockets/mute", post(mute).delete(unmute))
        .route("/sim/quotas", post(set_quotas))
        .route("/sim/clock/advance", post(advance_clock))
        .route("/sim/sms/messages", get(sms_messages))
        .route("/sim/sms/failures", post(sms_failure))
        .route("/sim/sms/opt-outs", post(sms_opt_out))
        .route("/sim/reset", post(reset))
        .route("/sim/stats", get(stats))
}

async fn list_contacts(State(shared): State<Arc<Shared>>) -> Json<Vec<ContactSummary>> {
    Json(shared.read(|core, _| {
        let mut list = core.model.list_contacts();
        for summary in &mut list {
            let id = ContactId::from_client(&summary.contact_id);
            summary.subscribed_sockets = Some(core.hub.subscribers(&id));
        }
        list
    }))
}

/// Query of `GET /sim/contacts/{id}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WaitQuery {
    wait_for: Option<Status>,
    wait_for_subscribers: Option<usize>,
    timeout_ms: Option<u64>,
}

async fn get_contact(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(query): Query<WaitQuery>,
) -> Result<Json<ContactSummary>, ApiError> {
    let id = ContactId::from_client(&id);
    let mut changes = shared.changes();
    let timeout = Duration::from_millis(query.timeout_ms.unwrap_or(5000)).min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let summary = shared
            .read(|core, _| {
                core.model.contact_summary(&id).map(|mut summary| {
                    summary.subscribed_sockets = Some(core.hub.subscribers(&id));
                    summary
                })
            })
            .ok_or_else(|| ApiError::not_found(format!("contact {id} not found")))?;
        let status_ok = query.wait_for.is_none_or(|wanted| summary.status == wanted);
        let sockets_ok = query
            .wait_for_subscribers
            .is_none_or(|wanted| summary.subscribed_sockets.unwrap_or(0) >= wanted);
        if status_ok && sockets_ok {
            return Ok(Json(summary));
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return Err(ApiError::internal_server("emulator shutting down"));
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "TimeoutException",
                    format!(
                        "contact {id}: status {:?} with {} subscribed sockets; wanted {:?} and {:?}",
                        summary.status,
                        summary.subscribed_sockets.unwrap_or(0),
                        query.wait_for,
                        query.wait_for_subscribers,
                    ),
                ));
            }
            () = shared.cancel.cancelled() => {
                return Err(ApiError::internal_server("emulator shutting down"));
            }
        }
    }
}

async fn agent_join(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<AgentJoinResponse>, ApiError> {
    let request: AgentJoinRequest = parse_body(&body, ApiError::validation)?;
    let id = ContactId::from_client(&id);
    let response = shared.mutate(|core, now| core.model.agent_join(&id, &request, now))?;
    tracing::info!(contact_id = %id, "agent joined");
    Ok(Json(response))
}

async fn agent_message(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<SendResponse>, ApiError> {
    let request: ChatMessage = parse_body(&body, ApiError::validation)?;
    let id = ContactId::from_client(&id);
    Ok(Json(shared.mutate(|core, now| {
        core.model.agent_message(&id, &request, now)
    })?))
}

async fn agent_event(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<SendResponse>, ApiError> {
    let request: SendEventRequest = parse_body(&body, ApiError::validation)?;
    let id = ContactId::from_client(&id);
    Ok(Json(shared.mutate(|core, now| {
        core.model.agent_event(&id, &request, now)
    })?))
}

async fn end_contact(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = ContactId::from_client(&id);
    shared.mutate(|core, now| core.model.agent_end(&id, now))?;
    Ok(empty_json())
}

async fn transcript(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<FullTranscript>, ApiError> {
    let id = ContactId::from_client(&id);
    Ok(Json(
        shared.read(|core, _| core.model.full_transcript(&id))?,
    ))
}

async fn add_fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let request: FaultRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("malformed fault: {e}")))?;
    let operation = shared.faults.add(request).map_err(ApiError::validation)?;
    tracing::info!(operation = operation.name(), "fault added");
    Ok(empty_json())
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    shared.faults.clear();
    empty_json()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Dropped {
    dropped: usize,
}

async fn drop_sockets(State(shared): State<Arc<Shared>>) -> Json<Dropped> {
    let dropped = shared.mutate(|core, _| core.hub.kill_all(Kill::Abort));
    tracing::info!(dropped, "dropped every participant socket");
    Json(Dropped { dropped })
}

async fn mute(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Json<MuteState>, ApiError> {
    let state: MuteState = parse_body(&body, ApiError::validation)?;
    shared.socket_faults.mute(state);
    Ok(Json(shared.socket_faults.state()))
}

async fn unmute(State(shared): State<Arc<Shared>>) -> Json<MuteState> {
    shared.socket_faults.unmute();
    Json(shared.socket_faults.state())
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct QuotaSwitch {
    enabled: bool,
}

async fn set_quotas(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Json<QuotaSwitch>, ApiError> {
    let switch: QuotaSwitch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("expected {{\"Enabled\": bool}}: {e}")))?;
    shared.quotas.set_enabled(switch.enabled);
    Ok(Json(switch))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Advance {
    seconds: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Advanced {
    offset_ms: u128,
    ended_chats: usize,
}

/// Moves simulated time forward and applies every deadline that passed, before answering.
async fn advance_clock(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Json<Advanced>, ApiError> {
    let advance: Advance = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("expected {{\"Seconds\": number}}: {e}")))?;
    let by = Duration::try_from_secs_f64(advance.seconds)
        .map_err(|_| ApiError::validation("Seconds must be a non-negative number"))?;
    shared.clock.advance(by);
    let ended_chats = shared.mutate(|core, now| core.model.expire(now));
    Ok(Json(Advanced {
        offset_ms: shared.clock.offset().as_millis(),
        ended_chats,
    }))
}

async fn sms_messages(State(shared): State<Arc<Shared>>) -> Json<Vec<SentText>> {
    Json(shared.sms(|sms| sms.texts()))
}

/// `POST /sim/sms/failures` body and reply.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SmsFailure {
    phone_number: String,
    #[serde(default)]
    event_type: Option<String>,
}

async fn sms_failure(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Json<SmsFailure>, ApiError> {
    let failure: SmsFailure = serde_json::from_slice(&body).map_err(|e| {
        ApiError::validation(format!(
            "expected {{\"PhoneNumber\": string, \"EventType\": string or null}}: {e}"
        ))
    })?;
    let kind = failure
        .event_type
        .as_deref()
        .map(str::parse::<EventType>)
        .transpose()
        .map_err(ApiError::validation)?;
    shared.sms(|sms| sms.set_failure(&failure.phone_number, kind))?;
    tracing::info!(event_type = ?failure.event_type, "sms destination failure set");
    Ok(Json(failure))
}

/// `POST /sim/sms/opt-outs` body and reply.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SmsOptOut {
    phone_number: String,
    opted_out: bool,
}

async fn sms_opt_out(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Json<SmsOptOut>, ApiError> {
    let opt_out: SmsOptOut = serde_json::from_slice(&body).map_err(|e| {
        ApiError::validation(format!(
            "expected {{\"PhoneNumber\": string, \"OptedOut\": bool}}: {e}"
        ))
    })?;
    shared.sms(|sms| sms.set_opted_out(&opt_out.phone_number, opt_out.opted_out))?;
    tracing::info!(opted_out = opt_out.opted_out, "sms opt-out set");
    Ok(Json(opt_out))
}

async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    let closed = shared.mutate(|core, _| core.hub.kill_all(RESET));
    shared.reset_model();
    shared.sms(|sms| sms.reset());
    shared.faults.clear();
    shared.socket_faults.unmute();
    shared.quotas.set_enabled(shared.config.quotas);
    shared.clock.reset();
    tracing::info!(closed_sockets = closed, "emulator reset");
    empty_json()
}

/// `GET /sim/stats`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Stats {
    contacts: usize,
    active_contacts: usize,
    #[serde(flatten)]
    sockets: HubStats,
    sockets_opened_total: u64,
    sockets_refused_total: u64,
    slow_consumer_closes_total: u64,
    sockets_replaced_total: u64,
    idle_closes_total: u64,
    chat_frames_queued_total: u64,
    frames_sent_total: u64,
    heartbeats_total: u64,
    throttled_total: u64,
    /// Texts SendTextMessage accepted (dry runs excluded).
    sms_messages_total: u64,
    /// Delivery events published to SNS.
    sms_events_published_total: u64,
    /// Delivery events not published after every attempt.
    sms_publish_failures_total: u64,
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<Stats> {
    let (model, sockets) = shared.read(|core, _| (core.model.stats(), core.hub.stats()));
    let m = &shared.metrics;
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    Json(Stats {
        contacts: model.contacts,
        active_contacts: model.active,
        sockets,
        sockets_opened_total: load(&m.sockets_opened_total),
        sockets_refused_total: load(&m.sockets_refused_total),
        slow_consumer_closes_total: load(&m.slow_consumer_closes_total),
        sockets_replaced_total: load(&m.sockets_replaced_total),
        idle_closes_total: load(&m.idle_closes_total),
        chat_frames_queued_total: load(&m.chat_frames_queued_total),
        frames_sent_total: load(&m.frames_sent_total),
        heartbeats_total: load(&m.heartbeats_total),
        throttled_total: shared.quotas.throttled(),
        sms_messages_total: shared.sms(|sms| sms.accepted_total()),
        sms_events_published_total: shared.sns.published_total(),
        sms_publish_failures_total: shared.sns.failures_total(),
    })
}
