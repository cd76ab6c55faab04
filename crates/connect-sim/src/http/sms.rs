//! End User Messaging SMS over awsJson1_0: `POST /` with `X-Amz-Target:
//! PinpointSMSVoiceV2.<Operation>` and a JSON body; answers in
//! `application/x-amz-json-1.0` (docs/connect-chat.md §7.4, §7.5).
//!
//! Only SendTextMessage is served ([`crate::sms`]); any other target answers 400
//! UnknownOperationException. Errors keep the restJson1 shape of [`ApiError`] (its
//! `__type` and `message` are what awsJson clients read) with this service's extra members.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::gate;
use crate::error::ApiError;
use crate::faults::Operation;
use crate::sms::delivery;
use crate::state::Shared;

/// The header naming the operation.
pub const TARGET_HEADER: &str = "x-amz-target";
/// The service's target prefix (`targetPrefix` in the model).
pub const TARGET_PREFIX: &str = "PinpointSMSVoiceV2.";
/// awsJson1_0's content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// SendTextMessage's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendTextMessageResult {
    message_id: String,
}

/// `POST /`: routes by `X-Amz-Target`.
pub async fn dispatch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get(TARGET_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let answer = match target.strip_prefix(TARGET_PREFIX) {
        Some("SendTextMessage") => send_text_message(&shared, &body).await,
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("operation {target:?} is not served by connect-sim"),
        )),
    };
    let mut response = match answer {
        Ok(output) => axum::Json(output).into_response(),
        Err(error) => error.into_response(),
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

async fn send_text_message(
    shared: &Arc<Shared>,
    body: &Bytes,
) -> Result<SendTextMessageResult, ApiError> {
    gate(shared, Operation::SendTextMessage).await?;
    // awsJson1_0 answers a body that is not the input's JSON with SerializationException.
    let request = serde_json::from_slice(body).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            format!("malformed request body: {error}"),
        )
    })?;
    let now = shared.clock.now().wall;
    let accepted = shared.sms(|sms| sms.send_text_message(request, now))?;
    tracing::info!(
        message_id = %accepted.message_id,
        dry_run = accepted.dry_run,
        "text accepted"
    );
    if let Some(work) = accepted.delivery {
        shared.tasks.spawn(delivery::deliver(shared.clone(), work));
    }
    Ok(SendTextMessageResult {
        message_id: accepted.message_id,
    })
}
