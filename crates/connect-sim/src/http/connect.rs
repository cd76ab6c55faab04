//! Connect (admin) API handlers: StartChatContact, StopContact (docs/connect-chat.md §2)
//! and UpdateParticipantRoleConfig (the chat idle timers, §6.1).
//!
//! Authentication is SigV4 in AWS; the emulator ignores signatures entirely (§1.2).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{empty_json, gate, parse_body, ws_base};
use crate::error::ApiError;
use crate::faults::Operation;
use crate::model::api::{
    StartChatContactRequest, StartChatContactResponse, StopContactRequest,
    UpdateParticipantRoleConfigRequest,
};
use crate::state::Shared;

/// `PUT /contact/chat`.
pub async fn start_chat_contact(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<StartChatContactResponse>, ApiError> {
    gate(&shared, Operation::StartChatContact).await?;
    let request: StartChatContactRequest = parse_body(&body, ApiError::invalid_request)?;
    let base = ws_base(&shared, &headers);
    let response = shared.mutate(|core, now| core.model.start_chat(request, &base, now))?;
    tracing::info!(contact_id = %response.contact_id, "chat started");
    Ok(Json(response))
}

/// `POST /contact/stop`.
pub async fn stop_contact(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    gate(&shared, Operation::StopContact).await?;
    let request: StopContactRequest = parse_body(&body, ApiError::invalid_request)?;
    shared.mutate(|core, now| core.model.stop_contact(&request, now))?;
    tracing::info!(
        contact_id = request.contact_id.as_deref().unwrap_or_default(),
        "contact stopped"
    );
    Ok(empty_json())
}

/// `PUT /contact/participant-role-config/{InstanceId}/{ContactId}`.
pub async fn update_participant_role_config(
    State(shared): State<Arc<Shared>>,
    Path((instance_id, contact_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    gate(&shared, Operation::UpdateParticipantRoleConfig).await?;
    let request: UpdateParticipantRoleConfigRequest = parse_body(&body, ApiError::invalid_request)?;
    shared.mutate(|core, _| {
        core.model
            .update_participant_role_config(&instance_id, &contact_id, &request)
    })?;
    tracing::info!(contact_id, "participant role config updated");
    Ok(empty_json())
}

/// CreateParticipant and contact streaming are not emulated: answer so, rather than pretend.
pub async fn not_implemented() -> ApiError {
    ApiError::invalid_request("this operation is not implemented by connect-sim")
}
