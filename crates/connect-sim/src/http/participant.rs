//! Participant API handlers (docs/connect-chat.md §3): the bearer token decides who is
//! calling.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::{bearer, empty_json, gate, parse_body, ws_base};
use crate::error::ApiError;
use crate::faults::Operation;
use crate::model::api::{
    CreateParticipantConnectionRequest, CreateParticipantConnectionResponse,
    DisconnectParticipantRequest, GetTranscriptRequest, GetTranscriptResponse, SendEventRequest,
    SendMessageRequest, SendResponse,
};
use crate::state::Shared;

/// `POST /participant/connection` (ParticipantToken).
pub async fn create_participant_connection(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<CreateParticipantConnectionResponse>, ApiError> {
    let token = bearer(&headers)?;
    gate(&shared, Operation::CreateParticipantConnection).await?;
    let request: CreateParticipantConnectionRequest = parse_body(&body, ApiError::validation)?;
    let base = ws_base(&shared, &headers);
    let response =
        shared.mutate(|core, now| core.model.create_connection(&token, &request, &base, now))?;
    Ok(Json(response))
}

/// `POST /participant/message` (ConnectionToken).
pub async fn send_message(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SendResponse>, ApiError> {
    let token = bearer(&headers)?;
    gate(&shared, Operation::SendMessage).await?;
    let request: SendMessageRequest = parse_body(&body, ApiError::validation)?;
    let response = shared.mutate(|core, now| core.model.send_message(&token, &request, now))?;
    Ok(Json(response))
}

/// `POST /participant/event` (ConnectionToken).
pub async fn send_event(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SendResponse>, ApiError> {
    let token = bearer(&headers)?;
    gate(&shared, Operation::SendEvent).await?;
    let request: SendEventRequest = parse_body(&body, ApiError::validation)?;
    let response = shared.mutate(|core, now| core.model.send_event(&token, &request, now))?;
    Ok(Json(response))
}

/// `POST /participant/transcript` (ConnectionToken).
pub async fn get_transcript(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<GetTranscriptResponse>, ApiError> {
    let token = bearer(&headers)?;
    gate(&shared, Operation::GetTranscript).await?;
    let request: GetTranscriptRequest = parse_body(&body, ApiError::validation)?;
    let response = shared.read(|core, now| core.model.get_transcript(&token, &request, now))?;
    Ok(Json(response))
}

/// `POST /participant/disconnect` (ConnectionToken).
pub async fn disconnect_participant(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)?;
    gate(&shared, Operation::DisconnectParticipant).await?;
    let request: DisconnectParticipantRequest = parse_body(&body, ApiError::validation)?;
    shared.mutate(|core, now| core.model.disconnect(&token, &request, now))?;
    Ok(empty_json())
}

/// Attachments are out of scope (§3.6 allows ValidationException).
pub async fn attachments_unsupported() -> ApiError {
    ApiError::validation("attachments are not supported by connect-sim")
}
