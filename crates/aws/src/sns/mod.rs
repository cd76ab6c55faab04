//! The SNS adapter: outbound SMS with SNS Publish to a phone number.
//!
//! [`SnsSender`] publishes one SMS (docs/connect-chat.md §7.2) to the customer's
//! number with the message attributes `AWS.MM.SMS.OriginationNumber` = the support number
//! the customer texted (so the reply comes from it) and `AWS.SNS.SMS.SMSType`. Bodies that
//! SNS would refuse (empty, over 1,600 characters) are refused here before any call.
//!
//! Opt-outs: SNS accepts a Publish to an opted-out number and drops it later (the
//! failure shows only in delivery logs), so most opt-outs never reach us as an error; the
//! bridge tracks STOP itself. An error that does say "opted out" becomes
//! [`SmsError::OptedOut`]. Splitting long replies is the caller's job
//! (`bridge_core::segment`); this module sends exactly one Publish per call.

mod map;

use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sns::Client;
use bridge_core::PhoneNumber;
use bridge_core::ids::SmsMessageId;
use bridge_core::ports::{SmsError, SmsSender};

use crate::clients::OnFirstUse;
use crate::error::RequestError;

/// The most characters one Publish may carry (§7.2).
pub const MAX_BODY_CHARS: usize = 1600;
/// Message attribute: the number the SMS is sent from.
pub const ORIGINATION_NUMBER_ATTRIBUTE: &str = "AWS.MM.SMS.OriginationNumber";
/// Message attribute: promotional or transactional.
pub const SMS_TYPE_ATTRIBUTE: &str = "AWS.SNS.SMS.SMSType";

/// SNS's SMS type: how the carrier treats the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SmsType {
    /// Critical messages (replies in a conversation): higher delivery priority.
    #[default]
    Transactional,
    /// Marketing messages (SNS's own default, which we never want for replies).
    Promotional,
}

impl SmsType {
    /// The attribute value SNS expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transactional => "Transactional",
            Self::Promotional => "Promotional",
        }
    }
}

/// Sends SMS with SNS Publish.
#[derive(Clone, Debug)]
pub struct SnsSender {
    client: Arc<OnFirstUse<Client>>,
    sms_type: SmsType,
}

impl SnsSender {
    /// A sender publishing with `client`, marking messages `sms_type`.
    pub fn new(client: Client, sms_type: SmsType) -> Self {
        Self {
            client: Arc::new(OnFirstUse::ready(client)),
            sms_type,
        }
    }

    /// A sender whose client is built from `shared` when first used ([`OnFirstUse`]).
    pub fn on_first_use(shared: &SdkConfig, sms_type: SmsType) -> Self {
        Self {
            client: Arc::new(OnFirstUse::later(shared, Client::new)),
            sms_type,
        }
    }
}

/// Refuses what SNS (or End User Messaging) would refuse anyway, without a call.
pub(crate) fn check_body(body: &str) -> Result<(), RequestError> {
    let chars = body.chars().count();
    if chars == 0 {
        Err(RequestError::EmptyBody)
    } else if chars > MAX_BODY_CHARS {
        Err(RequestError::BodyTooLong {
            chars,
            max: MAX_BODY_CHARS,
        })
    } else {
        Ok(())
    }
}

#[async_trait]
impl SmsSender for SnsSender {
    async fn send(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        body: &str,
    ) -> Result<SmsMessageId, SmsError> {
        check_body(body).map_err(|error| SmsError::Invalid(Box::new(error)))?;
        let output = self
            .client
            .get()
            .publish()
            .phone_number(to.as_e164())
            .message(body)
            .message_attributes(
                ORIGINATION_NUMBER_ATTRIBUTE,
                map::string_attribute(from.as_e164())?,
            )
            .message_attributes(
                SMS_TYPE_ATTRIBUTE,
                map::string_attribute(self.sms_type.as_str())?,
            )
            .send()
            .await
            .map_err(|error| {
                let error = map::sms_error(error);
                tracing::debug!(to = %to, from = %from, error = %error, "sns publish failed");
                error
            })?;
        Ok(map::message_id(output.message_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_sns_would_refuse_are_refused_here() {
        assert!(matches!(check_body(""), Err(RequestError::EmptyBody)));
        assert!(check_body(&"a".repeat(MAX_BODY_CHARS)).is_ok());
        assert!(matches!(
            check_body(&"a".repeat(MAX_BODY_CHARS + 1)),
            Err(RequestError::BodyTooLong { chars: 1601, .. })
        ));
        // Characters, not bytes: 1,600 emoji are one Publish's worth.
        assert!(check_body(&"😀".repeat(MAX_BODY_CHARS)).is_ok());
    }
}
