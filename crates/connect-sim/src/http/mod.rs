//! The HTTP surface: routes, and the request plumbing every REST operation shares.
//!
//! Handlers stay thin: read the bearer token and JSON body, pass fault injection and quotas,
//! call the model under [`Shared::mutate`], map the result. `POST /` is End User Messaging
//! SMS (awsJson1_0, routed by `X-Amz-Target`: [`sms`]); `GET /` the console. Decisions from
//! docs/connect-chat.md §1: SigV4 headers are accepted and ignored, `X-Amz-Bearer` is read
//! case-insensitively, every response carries `x-amzn-RequestId`, CORS answers chatjs in
//! browsers, empty outputs are `{}`.

pub mod connect;
pub mod participant;
pub mod sim;
pub mod sms;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::faults::Operation;
use crate::state::Shared;

/// The participant API's token header.
pub const BEARER_HEADER: &str = "x-amz-bearer";
/// Request id header on every response.
pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// Builds the whole router for one emulator instance.
pub fn router(shared: Arc<Shared>) -> Router {
    let rest = Router::new()
        .route("/contact/chat", put(connect::start_chat_contact))
        .route("/contact/stop", post(connect::stop_contact))
        .route(
            "/contact/participant-role-config/{instance_id}/{contact_id}",
            put(connect::update_participant_role_config),
        )
        .route(
            "/contact/create-participant",
            post(connect::not_implemented),
        )
        .route("/contact/start-streaming", post(connect::not_implemented))
        .route("/contact/stop-streaming", post(connect::not_implemented))
        .route(
            "/participant/connection",
            post(participant::create_participant_connection),
        )
        .route("/participant/message", post(participant::send_message))
        .route("/participant/event", post(participant::send_event))
        .route("/participant/transcript", post(participant::get_transcript))
        .route(
            "/participant/disconnect",
            post(participant::disconnect_participant),
        )
        .route(
            "/participant/start-attachment-upload",
            post(participant::attachments_unsupported),
        )
        .route(
            "/participant/complete-attachment-upload",
            post(participant::attachments_unsupported),
        )
        .route(
            "/participant/attachment",
            post(participant::attachments_unsupported),
        )
        .merge(sim::routes())
        .route("/", get(console).post(sms::dispatch))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            shared.config.request_timeout,
        ));
    Router::new()
        .route("/ws/{key}", get(crate::ws::upgrade))
        .merge(rest)
        .layer(middleware::from_fn(request_id))
        .layer(cors())
        .layer(
            // Spans name the route template, never the URI: WebSocket URLs carry a key.
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("<unmatched>", MatchedPath::as_str);
                tracing::debug_span!("request", method = %request.method(), route)
            }),
        )
        .with_state(shared)
}

async fn console() -> Html<&'static str> {
    Html(crate::console::PAGE)
}

/// Adds `x-amzn-RequestId` to every response.
async fn request_id(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let id = uuid::Uuid::new_v4().to_string();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    response
}

fn cors() -> CorsLayer {
    let allowed = [
        "content-type",
        "x-amz-bearer",
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-user-agent",
        "x-amz-content-sha256",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
        "x-amz-target",
    ]
    .map(HeaderName::from_static);
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers(allowed)
        .expose_headers([
            HeaderName::from_static(REQUEST_ID_HEADER),
            HeaderName::from_static(crate::error::ERROR_TYPE_HEADER),
        ])
}

/// The `X-Amz-Bearer` token.
///
/// # Errors
/// AccessDeniedException when it is missing or not text.
pub fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(BEARER_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::access_denied("missing X-Amz-Bearer token"))
}

/// Parses a JSON body (an empty body is `{}`), mapping failures to the service's 400.
///
/// # Errors
/// `invalid(message)` when the body is not the expected JSON.
pub fn parse_body<T: DeserializeOwned + Default>(
    body: &Bytes,
    invalid: fn(String) -> ApiError,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| invalid(format!("malformed request body: {e}")))
}

/// Applies fault injection, then quotas, for one call of `operation`.
///
/// # Errors
/// The injected error, or the quota's 429.
pub async fn gate(shared: &Shared, operation: Operation) -> Result<(), ApiError> {
    if let Some(injection) = shared.faults.take(operation) {
        tracing::info!(
            operation = operation.name(),
            delay_ms = u64::try_from(injection.delay.as_millis()).unwrap_or(u64::MAX),
            fails = injection.error.is_some(),
            "injecting fault"
        );
        if !injection.delay.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(injection.delay) => {}
                () = shared.cancel.cancelled() => {}
            }
        }
        if let Some(error) = injection.error {
            return Err(error);
        }
    }
    shared.quotas.check(operation, tokio::time::Instant::now())
}

/// `ws://host` (`wss://host` when serving TLS) for WebSocket URLs: the Host the client
/// used (chatjs accepts only `ws://127.0.0.1:` or `wss://`, docs/connect-chat.md §3.1),
/// else the listener address.
#[must_use]
pub fn ws_base(shared: &Shared, headers: &HeaderMap) -> String {
    let scheme = if shared.config.tls.is_some() {
        "wss"
    } else {
        "ws"
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()));
    match host {
        Some(host) => format!("{scheme}://{host}"),
        None => format!("{scheme}://{}", shared.local_addr),
    }
}

/// `{}` with a JSON content type, for operations with an empty output.
#[must_use]
pub fn empty_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from_static(b"{}"),
    )
        .into_response()
}
