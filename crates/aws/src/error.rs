//! The errors this crate adds to the ports' own, and the one place that classifies SDK
//! errors.
//!
//! Every adapter answers with its port's error enum (`StoreError`, `ChatError`,
//! `SmsError`), whose variants say what a caller may do (retry, re-read, give up). The
//! variant's `#[source]` is the SDK error as [`AwsError`] (what [`loggable`] keeps of it:
//! the service's error code, HTTP status and request id, never the service's message,
//! which can quote the request: a phone number, a token, the customer's words); the other
//! types below are the causes that do not come from the SDK: a response missing a field,
//! a request refused before it was sent, a table bootstrap that went wrong.
//!
//! Classification (`classify`) looks at the error code first (the same strings on
//! every AWS protocol), then at the HTTP status, then at how the request failed (timeout,
//! connection error): one rule set for all four services, so "throttled" means the same
//! thing everywhere.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use bridge_core::ids::{InvalidId, SmsMessageId};
use bridge_core::ports::{BoxError, ChatError, SmsError};

/// Error codes that mean "slow down" on the services we call (DynamoDB, SNS, Connect,
/// Connect Participant); 429 without a code means the same.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "Throttled",
    "ThrottledException",
    "TooManyRequests",
    "TooManyRequestsException",
    "LimitExceededException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "RequestThrottledException",
];

/// Error codes of server-side failures that a later retry can get past; any 5xx too.
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "InternalServiceException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    // DynamoDB: the item is part of an in-flight transaction; retrying succeeds.
    "TransactionConflictException",
    // DynamoDB: a transaction with the same ClientRequestToken is still in progress.
    "TransactionInProgressException",
];

/// Error codes of a request the service judged invalid (400).
const INVALID_CODES: &[&str] = &[
    "ValidationException",
    "InvalidRequestException",
    "InvalidParameterException",
    "InvalidParameter",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "ParameterValueInvalid",
];

/// The error code of a lost conditional write (DynamoDB).
const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailedException";

/// The error code of a denied call; on the participant API it means the chat ended or
/// the token expired (docs/connect-chat.md §1.4).
const ACCESS_DENIED: &str = "AccessDeniedException";

/// What kind of failure an SDK error is, as far as a caller's next step goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// A conditional write lost.
    Conflict,
    /// The service is throttling us.
    Throttled,
    /// Timeout, connection failure, 5xx: retrying later can succeed.
    Transient,
    /// 403 AccessDeniedException.
    AccessDenied,
    /// The service called the request invalid (400).
    Invalid,
    /// Anything else.
    Other,
}

/// An AWS call's failure as it may reach a log.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The service answered with an error. Its message is left out: AWS's validation and
    /// authorization messages quote request values (SNS's AuthorizationError names the
    /// destination number; a validation error quotes the value it refused).
    #[error("{code} (HTTP {status}, request id {request_id})")]
    Service {
        /// The service's error code (`ThrottlingException`, `AuthorizationError`…), or
        /// `unknown` when it gave none.
        code: String,
        /// The HTTP status.
        status: u16,
        /// The request id, for AWS support; `unknown` when absent.
        request_id: String,
    },
    /// The response came but could not be read (its body is left out).
    #[error("unreadable response (HTTP {status})")]
    Response {
        /// The HTTP status.
        status: u16,
    },
    /// The SDK could not build the request. Its reason is left out: it can quote the value
    /// it refused (a token that cannot be a header value).
    #[error("request could not be built")]
    Unbuilt,
    /// No answer: a timeout or a connection failure (DNS, TLS, credentials, connector),
    /// whose causes name the endpoint, never the request's values.
    #[error("no answer")]
    Unanswered(#[source] BoxError),
}

/// What of an SDK error may be logged ([`AwsError`]), boxed as a port error's source.
pub(crate) fn loggable<E>(error: SdkError<E, HttpResponse>) -> BoxError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let error = match error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let meta = context.err().meta();
            AwsError::Service {
                code: meta.code().unwrap_or("unknown").to_owned(),
                status,
                request_id: meta.extra("aws_request_id").unwrap_or("unknown").to_owned(),
            }
        }
        SdkError::ResponseError(context) => AwsError::Response {
            status: context.raw().status().as_u16(),
        },
        SdkError::ConstructionFailure(_) => AwsError::Unbuilt,
        other => AwsError::Unanswered(Box::new(other)),
    };
    Box::new(error)
}

/// Classifies an SDK error; see the module docs for the order of the rules.
pub(crate) fn classify<E>(error: &SdkError<E, HttpResponse>) -> Class
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            classify_service(context.err().code(), status)
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Class::Transient,
        SdkError::DispatchFailure(failure) if failure.is_user() => Class::Other,
        SdkError::DispatchFailure(_) => Class::Transient,
        // ConstructionFailure: the request could not even be built; it never will be.
        _ => Class::Other,
    }
}

/// Classifies a service's error answer by its code, then its HTTP status.
pub(crate) fn classify_service(code: Option<&str>, status: u16) -> Class {
    let is = |codes: &[&str]| code.is_some_and(|code| codes.contains(&code));
    if code == Some(CONDITIONAL_CHECK_FAILED) {
        Class::Conflict
    } else if is(THROTTLING_CODES) || status == 429 {
        Class::Throttled
    } else if is(TRANSIENT_CODES) || (500..600).contains(&status) {
        Class::Transient
    } else if code == Some(ACCESS_DENIED) || (code.is_none() && status == 403) {
        Class::AccessDenied
    } else if is(INVALID_CODES) {
        Class::Invalid
    } else {
        Class::Other
    }
}

/// The error code of a service error, when the service gave one.
pub(crate) fn code_of<E>(error: &SdkError<E, HttpResponse>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(context) => context.err().code(),
        _ => None,
    }
}

/// Which chat service answered: a 403 means different things on each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChatService {
    /// The Connect admin API (IAM-signed): a 403 is a permissions problem.
    Admin,
    /// The participant API (bearer tokens): a 403 means the chat ended or the token
    /// expired (docs/connect-chat.md §1.4).
    Participant,
}

/// Maps a Connect or Connect Participant failure to the port's error.
pub(crate) fn chat_error<E>(error: SdkError<E, HttpResponse>, service: ChatService) -> ChatError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match (classify(&error), service) {
        (Class::AccessDenied, ChatService::Participant) => ChatError::ChatEnded,
        (Class::Throttled, _) => ChatError::Throttled(loggable(error)),
        (Class::Transient, _) => ChatError::Transient(loggable(error)),
        (Class::Invalid, _) => ChatError::Invalid(loggable(error)),
        (Class::AccessDenied | Class::Conflict | Class::Other, _) => {
            ChatError::Other(loggable(error))
        }
    }
}

/// Maps an SMS sending failure (SNS Publish, End User Messaging SendTextMessage) to the
/// port's error, once the sender has recognised an opt-out itself.
pub(crate) fn sms_error<E>(error: SdkError<E, HttpResponse>) -> SmsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match classify(&error) {
        Class::Throttled => SmsError::Throttled(loggable(error)),
        Class::Transient => SmsError::Transient(loggable(error)),
        Class::Invalid => SmsError::Invalid(loggable(error)),
        Class::Conflict | Class::AccessDenied | Class::Other => SmsError::Other(loggable(error)),
    }
}

/// The message id of an SMS the service accepted (answered 200). A missing or unusable id
/// is logged, never an error: the caller would send the SMS again.
pub(crate) fn accepted_message_id(operation: &'static str, id: Option<String>) -> SmsMessageId {
    let id = id
        .ok_or(ResponseError::Missing {
            operation,
            field: "MessageId",
        })
        .and_then(|id| {
            SmsMessageId::new(id).map_err(|source| ResponseError::InvalidId {
                operation,
                field: "MessageId",
                source,
            })
        });
    id.unwrap_or_else(|error| {
        tracing::warn!(%error, "the sms was accepted without a usable message id");
        // INVARIANT: a non-empty literal within the id length limit.
        SmsMessageId::new(UNKNOWN_MESSAGE_ID).unwrap_or_else(|_| unreachable!("valid literal"))
    })
}

/// What an accepted SMS's message id stands for when the service gave none we can keep.
pub(crate) const UNKNOWN_MESSAGE_ID: &str = "unknown";

/// A successful response that lacks what the bridge needs from it.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// A field the bridge relies on was absent.
    #[error("{operation} response lacks {field}")]
    Missing {
        /// The API operation.
        operation: &'static str,
        /// The missing field, as the API names it.
        field: &'static str,
    },
    /// An id or token in the response is empty or too long.
    #[error("{operation} response has an invalid {field}")]
    InvalidId {
        /// The API operation.
        operation: &'static str,
        /// The field, as the API names it.
        field: &'static str,
        /// Why it was refused.
        #[source]
        source: InvalidId,
    },
    /// A time in the response is not ISO 8601.
    #[error("{operation} response has an unparsable time in {field}")]
    InvalidTime {
        /// The API operation.
        operation: &'static str,
        /// The field, as the API names it.
        field: &'static str,
        /// The parse failure.
        #[source]
        source: chrono::ParseError,
    },
}

/// A request refused before it was sent, because the service would refuse it too.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// An SMS body longer than one SNS Publish may carry.
    #[error("sms body has {chars} characters, more than the {max} one publish may carry")]
    BodyTooLong {
        /// Characters in the body.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// An empty SMS body.
    #[error("sms body is empty")]
    EmptyBody,
    /// A request structure the SDK refused to build (a required member is missing).
    #[error("could not build the {operation} request")]
    Build {
        /// The API operation.
        operation: &'static str,
        /// The SDK's reason.
        #[source]
        source: BoxError,
    },
}

/// BatchGetItem kept leaving keys unprocessed (the table is throttling reads).
#[derive(Debug, thiserror::Error)]
#[error("{remaining} keys still unprocessed after {rounds} batch reads")]
pub struct UnprocessedKeys {
    /// Keys not read.
    pub remaining: usize,
    /// Rounds tried.
    pub rounds: u32,
}

/// DynamoDB cancelled a transaction for reasons other than the session's condition.
#[derive(Debug, thiserror::Error)]
#[error("transaction cancelled (reasons: {})", codes.join(", "))]
pub struct TransactionCancelled {
    /// `CancellationReason.Code` of each item, in order (`None` for items that were fine).
    pub codes: Vec<String>,
}

/// Why creating the table failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A table of that name exists already (its schema was not checked).
    #[error("table {table} already exists")]
    AlreadyExists {
        /// The table name.
        table: String,
    },
    /// The table did not become ACTIVE in time.
    #[error("table {table} not active after {waited_secs} s")]
    NotActive {
        /// The table name.
        table: String,
        /// How long we waited.
        waited_secs: u64,
    },
    /// A DynamoDB call failed.
    #[error("{operation} on table {table} failed")]
    Request {
        /// The API operation.
        operation: &'static str,
        /// The table name.
        table: String,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
}

/// Test helpers: SDK errors as the services send them.
#[cfg(test)]
pub(crate) mod testing {
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    /// A service's refusal with `code`, `message`, HTTP `status` and request id
    /// `request_id`, as operation error `E` (`generic`: e.g. `PublishError::generic`).
    pub(crate) fn refusal<E>(
        generic: fn(ErrorMetadata) -> E,
        code: &str,
        message: &str,
        status: u16,
        request_id: &str,
    ) -> SdkError<E, HttpResponse> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message(message)
            .custom("aws_request_id", request_id)
            .build();
        let status = StatusCode::try_from(status).expect("an HTTP status");
        SdkError::service_error(generic(meta), HttpResponse::new(status, SdkBody::empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_chat_error_keeps_the_code_and_drops_what_the_message_quotes() {
        use aws_sdk_connectparticipant::operation::send_message::SendMessageError;

        // GIVEN a refusal whose message quotes the customer's words, as AWS's validation
        // messages quote the value they refused
        let error = testing::refusal(
            SendMessageError::generic,
            "ValidationException",
            "Value 'my card is 4111 1111' at 'content' failed to satisfy constraint",
            400,
            "req-7",
        );

        // WHEN it becomes the port's error, as a log line shows it
        let mapped = chat_error(error, ChatService::Participant);
        let line = bridge_core::report::chain(&mapped);

        // THEN the code, status and request id are there, the quoted words are not
        assert!(matches!(mapped, ChatError::Invalid(_)), "{mapped:?}");
        assert!(
            line.contains("ValidationException (HTTP 400, request id req-7)"),
            "{line}"
        );
        assert!(!line.contains("my card"), "{line}");
    }

    #[test]
    fn a_request_that_could_not_be_built_keeps_no_reason() {
        use aws_sdk_connectparticipant::operation::send_message::SendMessageError;

        // GIVEN the SDK refusing a token that cannot be a header value, quoting it
        let error: SdkError<SendMessageError, HttpResponse> = SdkError::construction_failure(
            std::io::Error::other("`secret-token\n` cannot be used as a header value"),
        );

        // WHEN it is logged
        let line = bridge_core::report::chain(&chat_error(error, ChatService::Participant));

        // THEN the token is not in the line
        assert!(line.contains("request could not be built"), "{line}");
        assert!(!line.contains("secret-token"), "{line}");
    }

    #[test]
    fn conditional_check_failure_is_a_conflict() {
        assert_eq!(
            classify_service(Some(CONDITIONAL_CHECK_FAILED), 400),
            Class::Conflict
        );
    }

    #[test]
    fn throttling_codes_and_429_are_throttled() {
        for code in [
            "ThrottlingException",
            "LimitExceededException",
            "TooManyRequestsException",
        ] {
            assert_eq!(
                classify_service(Some(code), 400),
                Class::Throttled,
                "{code}"
            );
        }
        assert_eq!(
            classify_service(Some("ProvisionedThroughputExceededException"), 400),
            Class::Throttled
        );
        assert_eq!(classify_service(None, 429), Class::Throttled);
        assert_eq!(
            classify_service(Some("SomethingNew"), 429),
            Class::Throttled
        );
    }

    #[test]
    fn server_errors_are_transient() {
        assert_eq!(
            classify_service(Some("InternalServerException"), 500),
            Class::Transient
        );
        assert_eq!(
            classify_service(Some("InternalServiceException"), 500),
            Class::Transient
        );
        assert_eq!(classify_service(None, 503), Class::Transient);
        assert_eq!(classify_service(Some("Unexpected"), 502), Class::Transient);
    }

    #[test]
    fn access_denied_is_recognised_by_code_or_bare_403() {
        assert_eq!(
            classify_service(Some(ACCESS_DENIED), 403),
            Class::AccessDenied
        );
        assert_eq!(classify_service(None, 403), Class::AccessDenied);
        assert_eq!(
            classify_service(Some("UnrecognizedClientException"), 403),
            Class::Other
        );
    }

    #[test]
    fn validation_codes_are_invalid_and_the_rest_other() {
        for code in [
            "ValidationException",
            "InvalidRequestException",
            "InvalidParameterException",
            "InvalidParameter",
        ] {
            assert_eq!(classify_service(Some(code), 400), Class::Invalid, "{code}");
        }
        assert_eq!(
            classify_service(Some("ResourceNotFoundException"), 404),
            Class::Other
        );
        assert_eq!(
            classify_service(Some("ResourceNotFoundException"), 400),
            Class::Other
        );
    }
}
