//! SNS request values and error classification.

use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use bridge_core::ids::SmsMessageId;
use bridge_core::ports::SmsError;

use crate::error::{RequestError, accepted_message_id};

/// The message attribute data type for strings.
const STRING_DATA_TYPE: &str = "String";

/// A `String` message attribute.
pub(super) fn string_attribute(value: &str) -> Result<MessageAttributeValue, SmsError> {
    MessageAttributeValue::builder()
        .data_type(STRING_DATA_TYPE)
        .string_value(value)
        .build()
        .map_err(|source| {
            SmsError::Invalid(Box::new(RequestError::Build {
                operation: "Publish",
                source: source.into(),
            }))
        })
}

/// The Publish response's message id ([`accepted_message_id`]).
pub(super) fn message_id(id: Option<String>) -> SmsMessageId {
    accepted_message_id("Publish", id)
}

/// Maps a Publish failure to the port's error.
pub(super) fn sms_error(error: SdkError<PublishError, HttpResponse>) -> SmsError {
    if is_opt_out(error.code(), error.message()) {
        return SmsError::OptedOut;
    }
    crate::error::sms_error(error)
}

/// Whether an error says the destination opted out: by its code, or by the message of an
/// invalid-parameter error (SNS has no documented opt-out code; see the module docs).
fn is_opt_out(code: Option<&str>, message: Option<&str>) -> bool {
    let mentions_opt_out = |text: &str| {
        let text = text.to_ascii_lowercase();
        ["opted out", "opted-out", "opt-out", "optedout", "opt out"]
            .iter()
            .any(|phrase| text.contains(phrase))
    };
    match code {
        Some(code) if code.to_ascii_lowercase().contains("optedout") => true,
        Some("InvalidParameter" | "InvalidParameterValue" | "ParameterValueInvalid") => {
            message.is_some_and(mentions_opt_out)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_out_is_recognised_by_code_or_parameter_message() {
        assert!(is_opt_out(Some("OptedOut"), None));
        assert!(is_opt_out(Some("PhoneNumberOptedOutException"), Some("x")));
        assert!(is_opt_out(
            Some("InvalidParameter"),
            Some("Phone number is opted out")
        ));
        assert!(!is_opt_out(
            Some("InvalidParameter"),
            Some("Invalid parameter: PhoneNumber")
        ));
        assert!(!is_opt_out(Some("Throttling"), Some("opted out")));
        assert!(!is_opt_out(None, Some("opted out")));
    }

    #[test]
    fn a_refusal_keeps_its_code_status_and_request_id_and_drops_the_message() {
        // GIVEN SNS's AuthorizationError, whose message quotes the destination number
        let error = crate::error::testing::refusal(
            PublishError::generic,
            "AuthorizationError",
            "User is not authorized to perform SNS:Publish on resource: +15551234567",
            403,
            "req-42",
        );

        // WHEN it becomes the port's error, as a log line shows it
        let mapped = sms_error(error);
        let line = bridge_core::report::chain(&mapped);

        // THEN the line names the code, the status and the request id, and quotes nothing
        // of the request: not even a masked number
        assert!(matches!(mapped, SmsError::Other(_)), "{mapped:?}");
        assert!(
            line.contains("AuthorizationError (HTTP 403, request id req-42)"),
            "{line}"
        );
        assert!(!line.contains("4567"), "{line}");
        assert!(!line.contains("not authorized"), "{line}");
    }
}
