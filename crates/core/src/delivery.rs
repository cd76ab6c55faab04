//! Delivery events of AWS End User Messaging SMS, and what they mean for the chat.
//!
//! When the relay sends an agent's message through End User Messaging, each SMS part
//! carries a [`DeliveryTag`] in the request's `Context`, which the service copies into every
//! delivery event it publishes (docs/connect-chat.md §7.4). [`parse`] reads one such event
//! (the JSON an SNS record carries); [`decide`] says what the chat should see: a delivered
//! receipt for the agent's message once its last part reached the phone, or a short note
//! when a part could not be delivered. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ids::{ContactId, ItemId};
use crate::phone::PhoneNumber;
use crate::ports::DeliveryTag;

/// Context key: the chat.
pub const CONTEXT_CONTACT: &str = "bridgeContactId";
/// Context key: the agent's message.
pub const CONTEXT_ITEM: &str = "bridgeItemId";
/// Context key: `<part>/<parts>`.
pub const CONTEXT_PART: &str = "bridgePart";
/// Context key: the support number the customer texted (a pool may send from another).
pub const CONTEXT_SUPPORT: &str = "bridgeSupportNumber";

impl DeliveryTag {
    /// The `Context` entries an SMS part carries.
    pub fn context(&self, support: &PhoneNumber) -> [(&'static str, String); 4] {
        [
            (CONTEXT_CONTACT, self.contact_id.to_string()),
            (CONTEXT_ITEM, self.item_id.to_string()),
            (CONTEXT_PART, format!("{}/{}", self.part, self.parts)),
            (CONTEXT_SUPPORT, support.as_e164().to_owned()),
        ]
    }

    /// Reads the tag and the support number back from an event's `context`; `None` when
    /// the SMS was not a tagged chat message (a keyword reply, a notice, another sender).
    pub fn from_context(context: &BTreeMap<String, String>) -> Option<(Self, PhoneNumber)> {
        let get = |key: &str| context.get(key).map(String::as_str);
        let (part, parts) = get(CONTEXT_PART)?.split_once('/')?;
        let tag = Self {
            contact_id: ContactId::new(get(CONTEXT_CONTACT)?).ok()?,
            item_id: ItemId::new(get(CONTEXT_ITEM)?).ok()?,
            part: part.parse().ok().filter(|part| *part >= 1)?,
            parts: parts.parse().ok()?,
        };
        (tag.part <= tag.parts).then_some(())?;
        let support = PhoneNumber::parse(get(CONTEXT_SUPPORT)?).ok()?;
        Some((tag, support))
    }
}

/// Where an SMS part got to, from the event's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// On its way (pending, queued, accepted by the carrier with a final report to come).
    Pending,
    /// On the phone: `TEXT_DELIVERED`, or `TEXT_SUCCESSFUL` as a final event (the carrier
    /// accepted it and will report nothing more).
    Delivered,
    /// It will not arrive.
    Failed {
        /// The event type, e.g. `TEXT_CARRIER_UNREACHABLE`.
        event_type: String,
    },
}

/// One delivery event of a tagged SMS part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryEvent {
    /// The service's message id of the part (idempotency of what the event causes).
    pub message_id: String,
    /// The customer (the SMS's destination).
    pub customer: PhoneNumber,
    /// The support number the customer texted.
    pub support: PhoneNumber,
    /// The chat message and part.
    pub tag: DeliveryTag,
    /// Where the part got to.
    pub status: Status,
}

/// Why an event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Not the event JSON End User Messaging publishes.
    #[error("not an sms delivery event")]
    Json(#[source] serde_json::Error),
    /// The destination is not an E.164 number.
    #[error("delivery event destination is not a phone number")]
    Destination,
}

/// The event fields the bridge reads (https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-format.html).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    event_type: String,
    #[serde(default)]
    is_final: Option<bool>,
    destination_phone_number: String,
    message_id: String,
    #[serde(default)]
    context: BTreeMap<String, String>,
}

/// Event types that say a part will not arrive.
const FAILED: [&str; 10] = [
    "TEXT_BLOCKED",
    "TEXT_TTL_EXPIRED",
    "TEXT_CARRIER_UNREACHABLE",
    "TEXT_INVALID",
    "TEXT_INVALID_MESSAGE",
    "TEXT_UNREACHABLE",
    "TEXT_CARRIER_BLOCKED",
    "TEXT_SPAM",
    "TEXT_UNKNOWN",
    "TEXT_PROTECT_BLOCKED",
];

/// Whether `message` (an SNS record's message) looks like an SMS delivery event rather
/// than an inbound text: a JSON object whose `eventType` starts `TEXT_`.
pub fn is_delivery_event(message: &str) -> bool {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        event_type: Option<String>,
    }
    serde_json::from_str::<Probe>(message)
        .ok()
        .and_then(|probe| probe.event_type)
        .is_some_and(|kind| kind.starts_with("TEXT_"))
}

/// Reads one delivery event. `Ok(None)` for an event of an SMS the bridge did not tag.
///
/// # Errors
/// [`DeliveryError`] when the JSON is not a delivery event.
pub fn parse(message: &str) -> Result<Option<DeliveryEvent>, DeliveryError> {
    let raw: RawEvent = serde_json::from_str(message).map_err(DeliveryError::Json)?;
    let customer = PhoneNumber::parse(&raw.destination_phone_number)
        .map_err(|_| DeliveryError::Destination)?;
    let Some((tag, support)) = DeliveryTag::from_context(&raw.context) else {
        return Ok(None);
    };
    let status = match raw.event_type.as_str() {
        "TEXT_DELIVERED" => Status::Delivered,
        "TEXT_SUCCESSFUL" if raw.is_final == Some(true) => Status::Delivered,
        kind if FAILED.contains(&kind) => Status::Failed {
            event_type: raw.event_type.clone(),
        },
        // A type this code does not know: a final one is a failure to report, an
        // intermediate one is news of nothing.
        _ if raw.is_final == Some(true) => Status::Failed {
            event_type: raw.event_type.clone(),
        },
        _ => Status::Pending,
    };
    Ok(Some(DeliveryEvent {
        message_id: raw.message_id,
        customer,
        support,
        tag,
        status,
    }))
}

/// What the chat gets for one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// Nothing (a pending part, or a part before the last).
    Nothing,
    /// SendEvent `message.delivered` for the agent's message: its last part arrived.
    Delivered {
        /// The agent's message.
        item_id: ItemId,
    },
    /// A short note the agent reads in the chat (sent as the customer: the bridge's only
    /// voice in the chat), once per message.
    FailureNote {
        /// The agent's message.
        item_id: ItemId,
        /// The note.
        text: String,
    },
}

/// What `event` means for the chat.
pub fn decide(event: &DeliveryEvent) -> Receipt {
    let tag = &event.tag;
    match &event.status {
        Status::Pending => Receipt::Nothing,
        Status::Delivered if tag.part == tag.parts => Receipt::Delivered {
            item_id: tag.item_id.clone(),
        },
        Status::Delivered => Receipt::Nothing,
        Status::Failed { event_type } => Receipt::FailureNote {
            item_id: tag.item_id.clone(),
            text: failure_note(event_type, tag),
        },
    }
}

/// "[Bridge] Your message was not delivered by SMS: the phone is unreachable."
fn failure_note(event_type: &str, tag: &DeliveryTag) -> String {
    let why = match event_type {
        "TEXT_CARRIER_UNREACHABLE" => "the customer's carrier could not be reached",
        "TEXT_UNREACHABLE" => "the phone is unreachable",
        "TEXT_BLOCKED" | "TEXT_CARRIER_BLOCKED" | "TEXT_PROTECT_BLOCKED" => "it was blocked",
        "TEXT_SPAM" => "the carrier took it for spam",
        "TEXT_TTL_EXPIRED" => "it could not be handed to the carrier in time",
        "TEXT_INVALID" => "the number cannot receive SMS",
        "TEXT_INVALID_MESSAGE" => "the carrier refused its content",
        _ => "no delivery report came back",
    };
    let part = if tag.parts > 1 {
        format!(" (part {} of {})", tag.part, tag.parts)
    } else {
        String::new()
    };
    format!(
        "[SMS bridge] Your last message was not delivered to the customer's phone{part}: {why}."
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tag(part: usize, parts: usize) -> DeliveryTag {
        DeliveryTag {
            contact_id: ContactId::new("c-1").unwrap(),
            item_id: ItemId::new("i-7").unwrap(),
            part,
            parts,
        }
    }

    fn event(kind: &str, is_final: bool, tag: &DeliveryTag) -> String {
        let support = PhoneNumber::parse("+18005550100").unwrap();
        let context: BTreeMap<&str, String> = tag.context(&support).into_iter().collect();
        json!({
            "eventType": kind, "eventVersion": "1.0", "eventTimestamp": 1_686_975_103_470_u64,
            "isFinal": is_final, "originationPhoneNumber": "+18005550177",
            "destinationPhoneNumber": "+14255550156", "messageId": "m-1",
            "messageStatus": "X", "context": context, "totalMessageParts": 1,
        })
        .to_string()
    }

    #[test]
    fn the_tag_goes_out_in_the_context_and_comes_back() {
        let sent = tag(2, 3);
        let read = parse(&event("TEXT_DELIVERED", true, &sent))
            .unwrap()
            .unwrap();
        assert_eq!(read.tag, sent);
        assert_eq!(read.support.as_e164(), "+18005550100");
        assert_eq!(read.customer.as_e164(), "+14255550156");
        assert_eq!(read.message_id, "m-1");
    }

    #[test]
    fn only_the_last_parts_delivery_is_a_receipt() {
        let last = parse(&event("TEXT_DELIVERED", true, &tag(3, 3)))
            .unwrap()
            .unwrap();
        assert_eq!(
            decide(&last),
            Receipt::Delivered {
                item_id: ItemId::new("i-7").unwrap()
            }
        );
        let first = parse(&event("TEXT_DELIVERED", true, &tag(1, 3)))
            .unwrap()
            .unwrap();
        assert_eq!(decide(&first), Receipt::Nothing);
        // Accepted by the carrier, and nothing more to come: as good as it gets.
        let accepted = parse(&event("TEXT_SUCCESSFUL", true, &tag(1, 1)))
            .unwrap()
            .unwrap();
        assert!(matches!(decide(&accepted), Receipt::Delivered { .. }));
        for pending in ["TEXT_PENDING", "TEXT_QUEUED", "TEXT_SUCCESSFUL"] {
            let event = parse(&event(pending, false, &tag(1, 1))).unwrap().unwrap();
            assert_eq!(decide(&event), Receipt::Nothing, "{pending}");
        }
    }

    #[test]
    fn a_failed_part_becomes_a_note_naming_why() {
        let failed = parse(&event("TEXT_CARRIER_UNREACHABLE", true, &tag(2, 3)))
            .unwrap()
            .unwrap();
        let Receipt::FailureNote { item_id, text } = decide(&failed) else {
            panic!("expected a note");
        };
        assert_eq!(item_id.as_str(), "i-7");
        assert_eq!(
            text,
            "[SMS bridge] Your last message was not delivered to the customer's phone \
             (part 2 of 3): the customer's carrier could not be reached."
        );
        // A final type this code does not know is still a failure.
        let unknown = parse(&event("TEXT_SOMETHING_NEW", true, &tag(1, 1)))
            .unwrap()
            .unwrap();
        assert!(matches!(decide(&unknown), Receipt::FailureNote { .. }));
    }

    #[test]
    fn events_of_untagged_sms_and_inbound_texts_are_told_apart() {
        let untagged = json!({"eventType": "TEXT_DELIVERED", "isFinal": true,
            "destinationPhoneNumber": "+14255550156", "messageId": "m-2"})
        .to_string();
        assert!(is_delivery_event(&untagged));
        assert_eq!(parse(&untagged).unwrap(), None);
        let inbound = json!({"originationNumber": "+14255550156",
            "destinationNumber": "+18005550100", "messageBody": "hi",
            "inboundMessageId": "x"})
        .to_string();
        assert!(!is_delivery_event(&inbound));
        assert!(!is_delivery_event("not json"));
        let mut bad = tag(1, 1);
        bad.part = 2;
        assert_eq!(parse(&event("TEXT_DELIVERED", true, &bad)).unwrap(), None);
    }
}
