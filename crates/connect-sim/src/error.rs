//! Errors: the AWS-shaped API errors the emulator answers with, and the server's own errors.
//!
//! [`ApiError`] is what an operation returns to a client. It renders exactly as AWS restJson1
//! errors (docs/connect-chat.md §1.4): the HTTP status, an `x-amzn-ErrorType` header
//! naming the error shape, and a JSON body carrying the message under both `message` and
//! `Message`, so the Rust SDK, boto3 and chatjs all map it to their typed errors. The same
//! shape serves the awsJson1_0 errors of the SMS stand-in ([`crate::sms`]), whose error
//! structures carry more members (`Reason`, `Fields`, `ResourceType`, `ResourceId`).

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Response header naming the error shape; SDKs read it before the body.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

/// An error answered to a client in AWS's restJson1 shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type} ({status}): {message}")]
pub struct ApiError {
    status: StatusCode,
    error_type: Cow<'static, str>,
    message: String,
    /// Members of the error structure beyond its message, in the order added.
    members: Vec<(&'static str, serde_json::Value)>,
}

impl ApiError {
    /// Any status and error type (fault injection uses this).
    #[must_use]
    pub fn new(
        status: StatusCode,
        error_type: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error_type: error_type.into(),
            message: message.into(),
            members: Vec::new(),
        }
    }

    /// Adds a member to the error body (`Reason`, `Fields`, …): the SDKs read the members of
    /// an error structure from the body, next to its message.
    #[must_use]
    pub fn with_member(mut self, name: &'static str, value: impl Into<serde_json::Value>) -> Self {
        self.members.push((name, value.into()));
        self
    }

    /// A member added with [`Self::with_member`].
    #[must_use]
    pub fn member(&self, name: &str) -> Option<&serde_json::Value> {
        self.members
            .iter()
            .find(|(added, _)| *added == name)
            .map(|(_, value)| value)
    }

    /// Participant API: 400 ValidationException.
    #[must_use]
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    /// Both APIs: 403 AccessDeniedException (bad, expired or ended-chat token).
    #[must_use]
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDeniedException", message)
    }

    /// Participant API: 429 ThrottlingException.
    #[must_use]
    pub fn throttling(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            message,
        )
    }

    /// Participant API: 409 ConflictException.
    #[must_use]
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "ConflictException", message)
    }

    /// Participant API: 500 InternalServerException.
    #[must_use]
    pub fn internal_server(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            message,
        )
    }

    /// Connect API: 400 InvalidRequestException.
    #[must_use]
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequestException", message)
    }

    /// Connect API: 400 InvalidParameterException (a member's value is out of range or not
    /// one of its enum values, where the operation's model lists this error).
    #[must_use]
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterException",
            message,
        )
    }

    /// Both APIs: 404 ResourceNotFoundException.
    #[must_use]
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    /// Connect API: 429 LimitExceededException (concurrent active chats).
    #[must_use]
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            message,
        )
    }

    /// Connect API: 429 TooManyRequestsException (TPS throttling, §6.4).
    #[must_use]
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            message,
        )
    }

    /// Connect API: 500 InternalServiceException.
    #[must_use]
    pub fn internal_service(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServiceException",
            message,
        )
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error shape name sent in `x-amzn-ErrorType`.
    #[must_use]
    pub fn error_type(&self) -> &str {
        &self.error_type
    }

    /// The human-readable message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "message": self.message,
            "Message": self.message,
            "__type": self.error_type,
        });
        if let Some(object) = body.as_object_mut() {
            for (name, value) in self.members {
                object.insert(name.to_owned(), value);
            }
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        // Error type names are ASCII identifiers we chose or validated, so this only fails
        // for a fault-injected name with control characters; then the header is left out
        // and clients still see the status and body.
        if let Ok(value) = HeaderValue::from_str(&self.error_type) {
            response.headers_mut().insert(ERROR_TYPE_HEADER, value);
        }
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Why [`crate::serve`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listener's local address could not be read.
    #[error("cannot read the listener address")]
    LocalAddr(#[source] std::io::Error),
    /// The HTTP server failed.
    #[error("http server failed")]
    Serve(#[source] std::io::Error),
    /// Binding the listener failed.
    #[error("cannot bind {addr}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server task panicked or was cancelled.
    #[error("server task failed")]
    Join(#[source] tokio::task::JoinError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn error_renders_in_aws_rest_json_shape() {
        let response = ApiError::access_denied("chat has ended").into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response
                .headers()
                .get(ERROR_TYPE_HEADER)
                .map(|v| v.as_bytes()),
            Some(&b"AccessDeniedException"[..])
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let value: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(value["message"], "chat has ended");
        assert_eq!(value["Message"], "chat has ended");
    }

    #[tokio::test]
    async fn members_go_into_the_body() {
        let error = ApiError::validation("bad").with_member("Reason", "FIELD_VALIDATION_FAILED");
        assert_eq!(
            error.member("Reason"),
            Some(&serde_json::json!("FIELD_VALIDATION_FAILED"))
        );
        let body = axum::body::to_bytes(error.into_response().into_body(), 1 << 16)
            .await
            .expect("body");
        let value: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(value["Reason"], "FIELD_VALIDATION_FAILED");
        assert_eq!(value["__type"], "ValidationException");
    }
}
