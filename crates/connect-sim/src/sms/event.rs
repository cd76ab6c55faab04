//! Delivery events: the JSON an End User Messaging configuration set sends to its event
//! destinations for each text, and the `TEXT_*` event types.
//!
//! Members and the sample values come from the SMS event format page,
//! https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-format.html,
//! and the types from
//! https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-types.html
//! (docs/connect-chat.md §7.5). `messageStatus` is the event type without `TEXT_`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// An SMS event type the emulator publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The carrier accepted the message (published first, `isFinal: false`).
    Successful,
    /// The phone accepted the message (final).
    Delivered,
    /// The destination number is not valid.
    Invalid,
    /// The message body is not valid.
    InvalidMessage,
    /// The recipient's phone is unavailable (off, out of coverage).
    Unreachable,
    /// A temporary error in the recipient's carrier network.
    CarrierUnreachable,
    /// The recipient's phone or carrier blocks messages to the number.
    Blocked,
    /// The carrier blocked the message (malicious or abusive).
    CarrierBlocked,
    /// The carrier took the message for unsolicited commercial content.
    Spam,
    /// Not delivered for another reason.
    Unknown,
    /// Not handed off before the message's TimeToLive ran out.
    TtlExpired,
    /// Blocked by a protect configuration.
    ProtectBlocked,
}

impl EventType {
    /// The final event types of an undelivered text: the ones `/sim/sms/failures` accepts.
    pub const FAILURES: [Self; 10] = [
        Self::Invalid,
        Self::InvalidMessage,
        Self::Unreachable,
        Self::CarrierUnreachable,
        Self::Blocked,
        Self::CarrierBlocked,
        Self::Spam,
        Self::Unknown,
        Self::TtlExpired,
        Self::ProtectBlocked,
    ];

    /// The wire name (`TEXT_DELIVERED`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Successful => "TEXT_SUCCESSFUL",
            Self::Delivered => "TEXT_DELIVERED",
            Self::Invalid => "TEXT_INVALID",
            Self::InvalidMessage => "TEXT_INVALID_MESSAGE",
            Self::Unreachable => "TEXT_UNREACHABLE",
            Self::CarrierUnreachable => "TEXT_CARRIER_UNREACHABLE",
            Self::Blocked => "TEXT_BLOCKED",
            Self::CarrierBlocked => "TEXT_CARRIER_BLOCKED",
            Self::Spam => "TEXT_SPAM",
            Self::Unknown => "TEXT_UNKNOWN",
            Self::TtlExpired => "TEXT_TTL_EXPIRED",
            Self::ProtectBlocked => "TEXT_PROTECT_BLOCKED",
        }
    }

    /// `messageStatus`: the type without its `TEXT_` prefix.
    #[must_use]
    pub fn status(self) -> &'static str {
        let name = self.as_str();
        name.strip_prefix("TEXT_").unwrap_or(name)
    }

    /// `messageStatusDescription`. The first is the format page's sample; AWS documents no
    /// others, so *connect-sim:* words them after the event types page.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            Self::Successful => "Message has been accepted by phone carrier",
            Self::Delivered => "Message has been accepted by phone",
            Self::Invalid => "Destination phone number is not valid",
            Self::InvalidMessage => "Message body is not valid and cannot be sent",
            Self::Unreachable => "Phone is unreachable",
            Self::CarrierUnreachable => "Phone carrier is currently unreachable",
            Self::Blocked => "Phone or phone carrier is blocking messages to this number",
            Self::CarrierBlocked => "Phone carrier has blocked this message",
            Self::Spam => "Phone carrier has blocked this message as spam",
            Self::Unknown => "Message could not be delivered for an unknown reason",
            Self::TtlExpired => "Message was not handed off before its time to live expired",
            Self::ProtectBlocked => "Message was blocked by a protect configuration",
        }
    }

    /// Whether the message is at its end with this event.
    #[must_use]
    pub fn is_final(self) -> bool {
        self != Self::Successful
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = String;

    /// A failure type's wire name (the types a destination number can be made to fail with).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::FAILURES
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::FAILURES.iter().map(|kind| kind.as_str()).collect();
                format!(
                    "EventType {name:?} is not a failure event type; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// One event as published to the destination topic (the SNS `Message`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryEvent {
    /// `TEXT_SUCCESSFUL`, `TEXT_DELIVERED`, or a failure type.
    pub event_type: EventType,
    /// Always `1.0`.
    pub event_version: &'static str,
    /// When the event was reported, Unix milliseconds.
    pub event_timestamp: i64,
    /// Whether this is the message's last event.
    pub is_final: bool,
    /// The number the text is sent from.
    pub origination_phone_number: String,
    /// The recipient.
    pub destination_phone_number: String,
    /// The recipient's country (ISO 3166-1 alpha-2).
    pub iso_country_code: &'static str,
    /// Whether the origination and destination countries differ.
    pub is_international_send: bool,
    /// The recipient carrier's mobile country code.
    pub mcc: &'static str,
    /// The recipient carrier's mobile network code.
    pub mnc: &'static str,
    /// The recipient's carrier.
    pub carrier_name: &'static str,
    /// SendTextMessage's `MessageId`.
    pub message_id: String,
    /// When SendTextMessage accepted the message, Unix milliseconds.
    pub message_request_timestamp: i64,
    /// `GSM` or `UCS2`.
    pub message_encoding: &'static str,
    /// `TRANSACTIONAL` or `PROMOTIONAL`.
    pub message_type: &'static str,
    /// The event type without `TEXT_`.
    pub message_status: &'static str,
    /// A sentence about the status.
    pub message_status_description: &'static str,
    /// The request's `Context`, only when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<BTreeMap<String, String>>,
    /// SMS parts the body took.
    pub total_message_parts: usize,
    /// Price of all parts, USD.
    pub total_message_price: f64,
    /// Carrier fees of all parts, USD.
    pub total_carrier_fee: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_drop_the_text_prefix() {
        assert_eq!(EventType::Delivered.status(), "DELIVERED");
        assert_eq!(
            EventType::CarrierUnreachable.status(),
            "CARRIER_UNREACHABLE"
        );
        assert_eq!(EventType::TtlExpired.as_str(), "TEXT_TTL_EXPIRED");
        assert!(!EventType::Successful.is_final());
        assert!(EventType::Spam.is_final());
    }

    #[test]
    fn only_failure_types_parse() {
        for kind in EventType::FAILURES {
            assert_eq!(kind.as_str().parse::<EventType>(), Ok(kind));
        }
        assert!("TEXT_DELIVERED".parse::<EventType>().is_err());
        assert!("TEXT_SUCCESSFUL".parse::<EventType>().is_err());
        assert!("CARRIER_UNREACHABLE".parse::<EventType>().is_err());
        assert!("VOICE_BUSY".parse::<EventType>().is_err());
    }
}
