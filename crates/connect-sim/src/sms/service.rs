//! [`SmsService`]: the SMS stand-in's state and rules, pure (no I/O, time passed in).
//!
//! It accepts or refuses a SendTextMessage, keeps every accepted text for
//! `GET /sim/sms/messages`, the opt-out list and the numbers made to fail, and says what to
//! deliver: a [`Delivery`] that [`super::delivery`] turns into published events.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::destination::{ConfigurationSet, SnsDestination};
use super::event::{DeliveryEvent, EventType};
use super::request::{self, SendTextMessageRequest, TextMessage};
use super::text::{self, Encoding};
use crate::error::ApiError;

/// Texts kept for the control API; beyond this the oldest is forgotten, so a long-running
/// emulator does not grow without bound.
pub const MAX_KEPT: usize = 10_000;

/// *connect-sim:* `originationPhoneNumber` when `OriginationIdentity` is absent or not a
/// phone number (a pool, sender id or ARN): a number reserved for fiction (NANP 555-01xx).
pub const SIM_ORIGINATION_NUMBER: &str = "+12065550100";

/// *connect-sim:* the recipient's network in events: MCC 001 / MNC 01 is the ITU test network.
const MCC: &str = "001";
const MNC: &str = "01";
const CARRIER_NAME: &str = "connect-sim test network";
/// *connect-sim:* a nominal price a part (USD); carriers charge no fee.
const PRICE_PER_PART: f64 = 0.00581;

/// *connect-sim:* the type events carry when the request names none (the service uses the
/// account's or configuration set's default, which the emulator does not model).
const DEFAULT_MESSAGE_TYPE: &str = "TRANSACTIONAL";

/// Calling codes the emulator knows the country of (longest codes first is not needed:
/// none of these is a prefix of another).
const COUNTRIES: &[(&str, &str)] = &[
    ("1", "US"),
    ("7", "RU"),
    ("27", "ZA"),
    ("31", "NL"),
    ("32", "BE"),
    ("33", "FR"),
    ("34", "ES"),
    ("39", "IT"),
    ("41", "CH"),
    ("43", "AT"),
    ("44", "GB"),
    ("45", "DK"),
    ("46", "SE"),
    ("47", "NO"),
    ("48", "PL"),
    ("49", "DE"),
    ("52", "MX"),
    ("55", "BR"),
    ("61", "AU"),
    ("64", "NZ"),
    ("65", "SG"),
    ("81", "JP"),
    ("82", "KR"),
    ("86", "CN"),
    ("91", "IN"),
    ("351", "PT"),
    ("353", "IE"),
    ("852", "HK"),
    ("971", "AE"),
];

/// The country of an E.164 number (ISO 3166-1 alpha-2; `ZZ` when the emulator does not
/// know its calling code). *connect-sim:* `+1` is the US, although Canada and the
/// Caribbean share it.
#[must_use]
pub fn iso_country_code(number: &str) -> &'static str {
    let digits = number.strip_prefix('+').unwrap_or(number);
    COUNTRIES
        .iter()
        .find(|(code, _)| digits.starts_with(code))
        .map_or("ZZ", |(_, iso)| iso)
}

/// One accepted text, as `GET /sim/sms/messages` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SentText {
    /// SendTextMessage's answer.
    pub message_id: String,
    /// The recipient.
    pub destination_phone_number: String,
    /// As given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origination_identity: Option<String>,
    /// The text.
    pub message_body: String,
    /// As given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_type: Option<&'static str>,
    /// As given (name or ARN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration_set_name: Option<String>,
    /// As given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<BTreeMap<String, String>>,
    /// As given, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_live: Option<i64>,
    /// The message's final event type once reached (its event, if the configuration set
    /// has a destination, is then being published); absent while pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_event_type: Option<EventType>,
}

/// What is left to do for an accepted text: publish its events (when its configuration set
/// has a destination) and record its final event.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The state generation it belongs to: a reset in between makes it moot.
    pub generation: u64,
    /// Where events go, if anywhere.
    pub destination: Option<SnsDestination>,
    /// The final event type.
    pub final_event: EventType,
    /// The events' common members; the event type, time and status are filled in later.
    pub template: DeliveryEvent,
}

impl Delivery {
    /// The message.
    #[must_use]
    pub fn message_id(&self) -> &str {
        &self.template.message_id
    }

    /// The event of type `kind`, reported at `at`.
    #[must_use]
    pub fn event(&self, kind: EventType, at: DateTime<Utc>) -> DeliveryEvent {
        DeliveryEvent {
            event_type: kind,
            event_timestamp: at.timestamp_millis(),
            is_final: kind.is_final(),
            message_status: kind.status(),
            message_status_description: kind.description(),
            ..self.template.clone()
        }
    }
}

/// SendTextMessage's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The answer's `MessageId`.
    pub message_id: String,
    /// Only checked: nothing kept, nothing delivered.
    pub dry_run: bool,
    /// Work for [`super::delivery::deliver`]; `None` for a dry run, or when nothing is
    /// published and nothing waits (the final event is then recorded at once).
    pub delivery: Option<Delivery>,
}

/// The stand-in's state.
#[derive(Debug)]
pub struct SmsService {
    sets: HashMap<String, Option<SnsDestination>>,
    delivery_delay: Duration,
    texts: VecDeque<SentText>,
    opted_out: HashSet<String>,
    failing: HashMap<String, EventType>,
    generation: u64,
    accepted_total: u64,
}

impl SmsService {
    /// A service with `sets` (from the configuration) whose final events come
    /// `delivery_delay` after the first.
    #[must_use]
    pub fn new(sets: &[ConfigurationSet], delivery_delay: Duration) -> Self {
        Self {
            sets: sets
                .iter()
                .map(|set| (set.name.clone(), set.destination.clone()))
                .collect(),
            delivery_delay,
            texts: VecDeque::new(),
            opted_out: HashSet::new(),
            failing: HashMap::new(),
            generation: 0,
            accepted_total: 0,
        }
    }

    /// SendTextMessage at `now`.
    ///
    /// # Errors
    /// ValidationException (docs/connect-chat.md §7.5), ResourceNotFoundException for a
    /// configuration set the emulator does not know, ConflictException
    /// `DESTINATION_PHONE_NUMBER_OPTED_OUT`. A dry run is checked the same way.
    pub fn send_text_message(
        &mut self,
        request: SendTextMessageRequest,
        now: DateTime<Utc>,
    ) -> Result<Accepted, ApiError> {
        let message = request.validate()?;
        let destination = match message.configuration_set_name.as_deref() {
            None => None,
            Some(name_or_arn) => self
                .sets
                .get(set_name(name_or_arn))
                .cloned()
                .ok_or_else(|| request::not_found("configuration-set", name_or_arn))?,
        };
        let number = &message.destination_phone_number;
        if self.opted_out.contains(number) {
            return Err(request::conflict(
                "DESTINATION_PHONE_NUMBER_OPTED_OUT",
                "opted-out-number",
                number,
                format!("destination phone number {number} is opted out"),
            ));
        }
        let message_id = uuid::Uuid::new_v4().to_string();
        if message.dry_run {
            return Ok(Accepted {
                message_id,
                dry_run: true,
                delivery: None,
            });
        }
        self.accepted_total += 1;
        let final_event = self
            .failing
            .get(number)
            .copied()
            .unwrap_or(EventType::Delivered);
        let settled = destination.is_none() && self.delivery_delay.is_zero();
        let template = template(&message, &message_id, now);
        self.keep(SentText {
            message_id: message_id.clone(),
            destination_phone_number: message.destination_phone_number,
            origination_identity: message.origination_identity,
            message_body: message.message_body,
            message_type: message.message_type.map(|kind| kind.as_str()),
            configuration_set_name: message.configuration_set_name,
            context: message.context,
            time_to_live: message.time_to_live,
            final_event_type: settled.then_some(final_event),
        });
        let delivery = (!settled).then_some(Delivery {
            generation: self.generation,
            destination,
            final_event,
            template,
        });
        Ok(Accepted {
            message_id,
            dry_run: false,
            delivery,
        })
    }

    fn keep(&mut self, text: SentText) {
        if self.texts.len() == MAX_KEPT {
            self.texts.pop_front();
        }
        self.texts.push_back(text);
    }

    /// Whether work of `generation` still counts (no reset since).
    #[must_use]
    pub fn is_current(&self, generation: u64) -> bool {
        generation == self.generation
    }

    /// Records the final event of a delivery. `false` when a reset made the delivery moot
    /// (its final event must then not be published); `true` otherwise, even if the text
    /// has since been dropped from the kept ones.
    pub fn record_final(&mut self, delivery: &Delivery) -> bool {
        if !self.is_current(delivery.generation) {
            return false;
        }
        let id = delivery.message_id();
        if let Some(text) = self
            .texts
            .iter_mut()
            .rev()
            .find(|text| text.message_id == id)
        {
            text.final_event_type = Some(delivery.final_event);
        }
        true
    }

    /// Every kept text, oldest first.
    #[must_use]
    pub fn texts(&self) -> Vec<SentText> {
        self.texts.iter().cloned().collect()
    }

    /// Opts `number` out (or back in).
    ///
    /// # Errors
    /// ValidationException when `number` is not E.164.
    pub fn set_opted_out(&mut self, number: &str, opted_out: bool) -> Result<(), ApiError> {
        check_number(number)?;
        if opted_out {
            self.opted_out.insert(number.to_owned());
        } else {
            self.opted_out.remove(number);
        }
        Ok(())
    }

    /// Makes texts to `number` end with `failure` (`None`: delivered again).
    ///
    /// # Errors
    /// ValidationException when `number` is not E.164.
    pub fn set_failure(
        &mut self,
        number: &str,
        failure: Option<EventType>,
    ) -> Result<(), ApiError> {
        check_number(number)?;
        match failure {
            Some(kind) => self.failing.insert(number.to_owned(), kind),
            None => self.failing.remove(number),
        };
        Ok(())
    }

    /// Forgets texts, opt-outs and failures (configuration sets stay; counters too).
    pub fn reset(&mut self) {
        self.texts.clear();
        self.opted_out.clear();
        self.failing.clear();
        self.generation += 1;
    }

    /// Texts accepted since start (dry runs excluded).
    #[must_use]
    pub fn accepted_total(&self) -> u64 {
        self.accepted_total
    }
}

fn check_number(number: &str) -> Result<(), ApiError> {
    if request::is_e164(number) {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "PhoneNumber {number:?} is not E.164 (+ and 2-15 digits)"
        )))
    }
}

/// The name in a configuration set ARN (`arn:…:configuration-set/NAME`), or the name itself.
fn set_name(name_or_arn: &str) -> &str {
    if name_or_arn.starts_with("arn:") {
        name_or_arn
            .split_once(":configuration-set/")
            .map_or(name_or_arn, |(_, name)| name)
    } else {
        name_or_arn
    }
}

/// The event members every event of `message` shares.
fn template(message: &TextMessage, message_id: &str, now: DateTime<Utc>) -> DeliveryEvent {
    let origination = message
        .origination_identity
        .as_deref()
        .filter(|identity| request::is_e164(identity))
        .unwrap_or(SIM_ORIGINATION_NUMBER)
        .to_owned();
    let destination = message.destination_phone_number.clone();
    let country = iso_country_code(&destination);
    let parts = text::parts(&message.message_body);
    let price = (PRICE_PER_PART * parts as f64 * 1e5).round() / 1e5;
    let kind = EventType::Delivered;
    DeliveryEvent {
        event_type: kind,
        event_version: "1.0",
        event_timestamp: now.timestamp_millis(),
        is_final: kind.is_final(),
        is_international_send: iso_country_code(&origination) != country,
        origination_phone_number: origination,
        destination_phone_number: destination,
        iso_country_code: country,
        mcc: MCC,
        mnc: MNC,
        carrier_name: CARRIER_NAME,
        message_id: message_id.to_owned(),
        message_request_timestamp: now.timestamp_millis(),
        message_encoding: Encoding::of(&message.message_body).as_str(),
        message_type: message
            .message_type
            .map_or(DEFAULT_MESSAGE_TYPE, |kind| kind.as_str()),
        message_status: kind.status(),
        message_status_description: kind.description(),
        context: message.context.clone(),
        total_message_parts: parts,
        total_message_price: price,
        total_carrier_fee: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TO: &str = "+14255550156";

    fn sets() -> Vec<ConfigurationSet> {
        vec![
            "loud=http://127.0.0.1:1|arn:aws:sns:us-east-1:123456789012:events"
                .parse()
                .unwrap(),
            "quiet".parse().unwrap(),
        ]
    }

    fn service() -> SmsService {
        SmsService::new(&sets(), Duration::ZERO)
    }

    fn send(service: &mut SmsService, extra: serde_json::Value) -> Result<Accepted, ApiError> {
        let mut body = json!({"DestinationPhoneNumber": TO, "MessageBody": "hi"});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        service.send_text_message(serde_json::from_value(body).unwrap(), Utc::now())
    }

    #[test]
    fn a_text_without_destination_is_delivered_at_once() {
        let mut sms = service();
        let accepted = send(&mut sms, json!({"ConfigurationSetName": "quiet"})).unwrap();
        assert!(accepted.delivery.is_none());
        let texts = sms.texts();
        assert_eq!(texts.len(), 1);
        assert_eq!(texts[0].message_id, accepted.message_id);
        assert_eq!(texts[0].final_event_type, Some(EventType::Delivered));
        assert_eq!(sms.accepted_total(), 1);
    }

    #[test]
    fn a_text_with_a_destination_waits_for_its_delivery() {
        let mut sms = service();
        let accepted = send(
            &mut sms,
            json!({"ConfigurationSetName": "arn:aws:sms-voice:us-east-1:123456789012:configuration-set/loud"}),
        )
        .unwrap();
        let delivery = accepted.delivery.expect("events to publish");
        assert!(delivery.destination.is_some());
        assert_eq!(delivery.final_event, EventType::Delivered);
        assert_eq!(sms.texts()[0].final_event_type, None);
        assert!(sms.record_final(&delivery));
        assert_eq!(sms.texts()[0].final_event_type, Some(EventType::Delivered));
    }

    #[test]
    fn a_delay_keeps_even_a_quiet_text_pending() {
        let mut sms = SmsService::new(&sets(), Duration::from_millis(10));
        let accepted = send(&mut sms, json!({})).unwrap();
        let delivery = accepted.delivery.expect("a wait");
        assert_eq!(delivery.destination, None);
        assert_eq!(sms.texts()[0].final_event_type, None);
    }

    #[test]
    fn unknown_sets_are_not_found() {
        let mut sms = service();
        let error = send(&mut sms, json!({"ConfigurationSetName": "nope"})).unwrap_err();
        assert_eq!(error.error_type(), "ResourceNotFoundException");
        assert_eq!(error.status().as_u16(), 400);
        assert_eq!(
            error.member("ResourceType"),
            Some(&json!("configuration-set"))
        );
        assert_eq!(error.member("ResourceId"), Some(&json!("nope")));
        assert!(sms.texts().is_empty());
    }

    #[test]
    fn opted_out_numbers_conflict_until_opted_back_in() {
        let mut sms = service();
        sms.set_opted_out(TO, true).unwrap();
        let error = send(&mut sms, json!({})).unwrap_err();
        assert_eq!(error.error_type(), "ConflictException");
        assert_eq!(
            error.member("Reason"),
            Some(&json!("DESTINATION_PHONE_NUMBER_OPTED_OUT"))
        );
        let dry = send(&mut sms, json!({"DryRun": true})).unwrap_err();
        assert_eq!(dry.error_type(), "ConflictException");
        sms.set_opted_out(TO, false).unwrap();
        assert!(send(&mut sms, json!({})).is_ok());
        assert!(sms.set_opted_out("555", true).is_err());
    }

    #[test]
    fn dry_runs_are_checked_but_not_kept() {
        let mut sms = service();
        let accepted = send(
            &mut sms,
            json!({"DryRun": true, "ConfigurationSetName": "loud"}),
        )
        .unwrap();
        assert!(!accepted.message_id.is_empty());
        assert!(accepted.delivery.is_none());
        assert!(sms.texts().is_empty());
        assert_eq!(sms.accepted_total(), 0);
        assert!(send(&mut sms, json!({"DryRun": true, "TimeToLive": 1})).is_err());
    }

    #[test]
    fn failing_numbers_end_with_their_failure() {
        let mut sms = service();
        sms.set_failure(TO, Some(EventType::CarrierUnreachable))
            .unwrap();
        let delivery = send(&mut sms, json!({"ConfigurationSetName": "loud"}))
            .unwrap()
            .delivery
            .unwrap();
        assert_eq!(delivery.final_event, EventType::CarrierUnreachable);
        sms.set_failure(TO, None).unwrap();
        let delivery = send(&mut sms, json!({"ConfigurationSetName": "loud"}))
            .unwrap()
            .delivery
            .unwrap();
        assert_eq!(delivery.final_event, EventType::Delivered);
    }

    #[test]
    fn a_reset_forgets_everything_and_voids_pending_deliveries() {
        let mut sms = service();
        let delivery = send(&mut sms, json!({"ConfigurationSetName": "loud"}))
            .unwrap()
            .delivery
            .unwrap();
        sms.set_opted_out("+15550001111", true).unwrap();
        sms.reset();
        assert!(sms.texts().is_empty());
        assert!(!sms.is_current(delivery.generation));
        assert!(!sms.record_final(&delivery));
        assert!(send(&mut sms, json!({"DestinationPhoneNumber": "+15550001111"})).is_ok());
        assert_eq!(sms.accepted_total(), 2);
    }

    #[test]
    fn events_carry_the_documented_members() {
        let mut sms = service();
        let now = Utc::now();
        let body = json!({
            "DestinationPhoneNumber": "+447700900123",
            "OriginationIdentity": "+12065550152",
            "MessageBody": "ça va? 🙂",
            "MessageType": "PROMOTIONAL",
            "ConfigurationSetName": "loud",
            "Context": {"account": "bar"}
        });
        let delivery = sms
            .send_text_message(serde_json::from_value(body).unwrap(), now)
            .unwrap()
            .delivery
            .unwrap();
        let first = delivery.event(EventType::Successful, now);
        let event = serde_json::to_value(&first).unwrap();
        assert_eq!(event["eventType"], "TEXT_SUCCESSFUL");
        assert_eq!(event["eventVersion"], "1.0");
        assert_eq!(event["isFinal"], false);
        assert_eq!(event["messageStatus"], "SUCCESSFUL");
        assert_eq!(event["originationPhoneNumber"], "+12065550152");
        assert_eq!(event["destinationPhoneNumber"], "+447700900123");
        assert_eq!(event["isoCountryCode"], "GB");
        assert_eq!(event["isInternationalSend"], true);
        assert_eq!(event["messageEncoding"], "UCS2");
        assert_eq!(event["messageType"], "PROMOTIONAL");
        assert_eq!(event["context"], json!({"account": "bar"}));
        assert_eq!(event["totalMessageParts"], 1);
        assert_eq!(event["messageRequestTimestamp"], now.timestamp_millis());
        assert_eq!(event["messageId"], delivery.message_id());
        for member in [
            "mcc",
            "mnc",
            "carrierName",
            "totalMessagePrice",
            "totalCarrierFee",
            "eventTimestamp",
        ] {
            assert!(event.get(member).is_some(), "{member} missing");
        }
        let last = serde_json::to_value(delivery.event(EventType::Delivered, now)).unwrap();
        assert_eq!(last["isFinal"], true);
        assert_eq!(last["messageStatus"], "DELIVERED");
    }

    #[test]
    fn events_without_context_or_phone_origination_use_the_sim_number() {
        let mut sms = service();
        let delivery = send(
            &mut sms,
            json!({"ConfigurationSetName": "loud", "OriginationIdentity": "pool-123"}),
        )
        .unwrap()
        .delivery
        .unwrap();
        let event = serde_json::to_value(delivery.event(EventType::Delivered, Utc::now())).unwrap();
        assert_eq!(event["originationPhoneNumber"], SIM_ORIGINATION_NUMBER);
        assert_eq!(event["isInternationalSend"], false);
        assert_eq!(event["messageType"], "TRANSACTIONAL");
        assert_eq!(event["messageEncoding"], "GSM");
        assert!(event.get("context").is_none());
    }

    #[test]
    fn countries_come_from_calling_codes() {
        assert_eq!(iso_country_code("+14255550156"), "US");
        assert_eq!(iso_country_code("+353851234567"), "IE");
        assert_eq!(iso_country_code("+999123"), "ZZ");
    }

    #[test]
    fn only_the_newest_texts_are_kept() {
        let mut sms = service();
        for _ in 0..MAX_KEPT + 1 {
            send(&mut sms, json!({})).unwrap();
        }
        assert_eq!(sms.texts().len(), MAX_KEPT);
    }
}
