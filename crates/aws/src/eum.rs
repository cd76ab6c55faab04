//! The End User Messaging adapter: outbound SMS with AWS End User Messaging SMS's
//! SendTextMessage (the `pinpoint-sms-voice-v2` API), the sender that reports deliveries.
//!
//! [`EumSender`] sends one SMS per call from the support number the customer texted (or
//! the configured phone pool), as TRANSACTIONAL, with the configured configuration set and
//! time to live. A chat message's part carries its [`DeliveryTag`] in `Context`, which
//! the service copies into the delivery events its configuration set publishes
//! (`bridge_core::delivery`, docs/connect-chat.md §7.4). Bodies the service would refuse
//! (empty, over 1,600 characters) are refused here before any call, as for SNS.
//!
//! Errors: an opted-out destination (ConflictException, reason
//! `DESTINATION_PHONE_NUMBER_OPTED_OUT`) → [`SmsError::OptedOut`]; ValidationException →
//! `Invalid`; throttling and 5xx → `Throttled`/`Transient`; a spend limit reached
//! (ServiceQuotaExceededException), an unknown configuration set or pool, missing
//! permissions → `Other`, which the relay holds replies for until it is fixed.

use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_pinpointsmsvoicev2::Client;
use aws_sdk_pinpointsmsvoicev2::operation::send_text_message::SendTextMessageError;
use aws_sdk_pinpointsmsvoicev2::types::{ConflictExceptionReason, MessageType};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use bridge_core::PhoneNumber;
use bridge_core::config::EndUserMessaging;
use bridge_core::ids::SmsMessageId;
use bridge_core::ports::{DeliveryTag, SmsError, SmsSender};

use crate::clients::OnFirstUse;
use crate::error::accepted_message_id;
use crate::sns::check_body;

const SEND_TEXT_MESSAGE: &str = "SendTextMessage";

/// Sends SMS with End User Messaging's SendTextMessage.
#[derive(Clone, Debug)]
pub struct EumSender {
    client: Arc<OnFirstUse<Client>>,
    settings: EndUserMessaging,
}

impl EumSender {
    /// A sender over `client` with `settings`.
    pub fn new(client: Client, settings: EndUserMessaging) -> Self {
        Self {
            client: Arc::new(OnFirstUse::ready(client)),
            settings,
        }
    }

    /// A sender whose client is built from `shared` when first used ([`OnFirstUse`]).
    pub fn on_first_use(shared: &SdkConfig, settings: EndUserMessaging) -> Self {
        Self {
            client: Arc::new(OnFirstUse::later(shared, Client::new)),
            settings,
        }
    }

    async fn send_text(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        body: &str,
        tag: Option<&DeliveryTag>,
    ) -> Result<SmsMessageId, SmsError> {
        check_body(body).map_err(|error| SmsError::Invalid(Box::new(error)))?;
        let origination = self
            .settings
            .origination_pool
            .clone()
            .unwrap_or_else(|| from.as_e164().to_owned());
        let mut request = self
            .client
            .get()
            .send_text_message()
            .destination_phone_number(to.as_e164())
            .origination_identity(origination)
            .message_body(body)
            .message_type(MessageType::Transactional)
            .set_configuration_set_name(self.settings.configuration_set.clone())
            .set_time_to_live(
                self.settings
                    .ttl_secs
                    .and_then(|secs| i32::try_from(secs).ok()),
            );
        if let Some(tag) = tag {
            for (key, value) in tag.context(from) {
                request = request.context(key, value);
            }
        }
        let output = request.send().await.map_err(|error| {
            let error = sms_error(error);
            tracing::debug!(to = %to, from = %from, error = %error, "SendTextMessage failed");
            error
        })?;
        Ok(accepted_message_id(SEND_TEXT_MESSAGE, output.message_id))
    }
}

#[async_trait]
impl SmsSender for EumSender {
    async fn send(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        body: &str,
    ) -> Result<SmsMessageId, SmsError> {
        self.send_text(to, from, body, None).await
    }

    async fn send_tagged(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        body: &str,
        tag: &DeliveryTag,
    ) -> Result<SmsMessageId, SmsError> {
        self.send_text(to, from, body, Some(tag)).await
    }
}

/// Maps a SendTextMessage failure to the port's error.
fn sms_error(error: SdkError<SendTextMessageError, HttpResponse>) -> SmsError {
    let opted_out = matches!(
        error.as_service_error(),
        Some(SendTextMessageError::ConflictException(conflict))
            if conflict.reason() == Some(&ConflictExceptionReason::DestinationPhoneNumberOptedOut)
    );
    if opted_out {
        return SmsError::OptedOut;
    }
    crate::error::sms_error(error)
}
