//! The SNS adapter against moto, through the real SDK client.
//!
//! moto keeps the phone number and body of every SMS (`/moto-api/data.json`, read through
//! `bridge_testkit::Moto`) but drops the
//! message attributes, so the Publish request itself is captured as the SDK sends it (an
//! interceptor reads the form-encoded body) and checked for both attributes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use bridge_aws::sns::{ORIGINATION_NUMBER_ATTRIBUTE, SMS_TYPE_ATTRIBUTE};
use bridge_aws::{ClientSettings, SmsType, SnsSender};
use bridge_core::PhoneNumber;
use bridge_core::ports::{SmsError, SmsSender};
use bridge_testkit::emulators::{client_settings, dead_endpoint, moto};
use bridge_testkit::{Moto, emulator_config, fresh};

/// Records the body of every request the SDK is about to send.
#[derive(Clone, Debug, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "Recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(body).into_owned());
        Ok(())
    }
}

impl Recorder {
    fn requests(&self) -> Vec<HashMap<String, String>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|body| {
                form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect()
            })
            .collect()
    }
}

/// A sender over moto with a recorder on its client.
fn sender(endpoint: &str, settings: &ClientSettings) -> (SnsSender, Recorder) {
    let recorder = Recorder::default();
    let shared = settings.apply(&emulator_config(endpoint));
    let config = aws_sdk_sns::config::Builder::from(&shared)
        .interceptor(recorder.clone())
        .build();
    let client = aws_sdk_sns::Client::from_conf(config);
    (SnsSender::new(client, SmsType::Transactional), recorder)
}

fn support() -> PhoneNumber {
    PhoneNumber::parse("+18005550199").unwrap()
}

/// The SMS moto recorded: (phone number, body) for `message_id`.
async fn moto_sms(endpoint: &str, message_id: &str) -> Option<(String, String)> {
    Moto::new(endpoint)
        .unwrap()
        .sms()
        .await
        .unwrap()
        .into_iter()
        .find(|sms| sms.message_id == message_id)
        .map(|sms| (sms.phone_number, sms.message))
}

/// The message attributes of a captured Publish: name → (DataType, StringValue).
fn attributes(request: &HashMap<String, String>) -> HashMap<String, (String, String)> {
    (1..=10)
        .filter_map(|n| {
            let prefix = format!("MessageAttributes.entry.{n}");
            let name = request.get(&format!("{prefix}.Name"))?;
            Some((
                name.clone(),
                (
                    request.get(&format!("{prefix}.Value.DataType"))?.clone(),
                    request.get(&format!("{prefix}.Value.StringValue"))?.clone(),
                ),
            ))
        })
        .collect()
}

#[tokio::test]
async fn publish_goes_to_the_customer_from_the_support_number() {
    let endpoint = moto();
    let (sender, recorder) = sender(&endpoint, &client_settings());
    let to = fresh::customer_number();
    let body = "Hi! Your order ships today.";

    let id = sender.send(&to, &support(), body).await.unwrap();

    // The request as sent: one Publish to the customer, from the support number.
    let requests = recorder.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request["Action"], "Publish");
    assert_eq!(request["PhoneNumber"], to.as_e164());
    assert_eq!(request["Message"], body);
    assert!(!request.contains_key("TopicArn") && !request.contains_key("TargetArn"));
    let attributes = attributes(request);
    assert_eq!(attributes.len(), 2, "{attributes:?}");
    assert_eq!(
        attributes[ORIGINATION_NUMBER_ATTRIBUTE],
        ("String".to_owned(), support().as_e164().to_owned())
    );
    assert_eq!(
        attributes[SMS_TYPE_ATTRIBUTE],
        ("String".to_owned(), "Transactional".to_owned())
    );
    // What moto delivered.
    assert_eq!(
        moto_sms(&endpoint, id.as_str()).await,
        Some((to.as_e164().to_owned(), body.to_owned()))
    );
}

#[tokio::test]
async fn emoji_and_non_latin_text_arrive_intact() {
    let endpoint = moto();
    let (sender, recorder) = sender(&endpoint, &client_settings());
    let to = fresh::customer_number();
    let body = "Привет 👋 你好 — ça va? 🇫🇷";
    let id = sender.send(&to, &support(), body).await.unwrap();
    assert_eq!(recorder.requests()[0]["Message"], body);
    assert_eq!(
        moto_sms(&endpoint, id.as_str()).await,
        Some((to.as_e164().to_owned(), body.to_owned()))
    );
}

#[tokio::test]
async fn a_body_of_1600_characters_is_sent_and_1601_is_refused_before_publishing() {
    let endpoint = moto();
    let (sender, recorder) = sender(&endpoint, &client_settings());
    let to = fresh::customer_number();
    let longest = "é".repeat(1600);
    let id = sender.send(&to, &support(), &longest).await.unwrap();
    assert_eq!(moto_sms(&endpoint, id.as_str()).await.unwrap().1, longest);

    let error = sender
        .send(&to, &support(), &"a".repeat(1601))
        .await
        .unwrap_err();
    assert!(matches!(error, SmsError::Invalid(_)), "{error:?}");
    assert!(!error.is_retriable());
    let error = sender.send(&to, &support(), "").await.unwrap_err();
    assert!(matches!(error, SmsError::Invalid(_)), "{error:?}");
    assert_eq!(
        recorder.requests().len(),
        1,
        "refused bodies were never sent"
    );
}

#[tokio::test]
async fn publish_to_an_opted_out_number_is_accepted_as_sns_does() {
    // moto reports numbers ending in 99 as opted out; like SNS, its Publish still accepts
    // them (SNS drops the message later). The adapter reports what Publish said: success.
    // SmsError::OptedOut is kept for an error that says so (unit-tested in `sns::map`).
    let endpoint = moto();
    let (sender, _) = sender(&endpoint, &client_settings());
    // A fresh number's first five random digits, then 99.
    let opted_out = PhoneNumber::parse(&format!("{}99", &fresh::customer()[..10])).unwrap();
    let raw = aws_sdk_sns::Client::new(&emulator_config(&endpoint));
    let check = raw
        .check_if_phone_number_is_opted_out()
        .phone_number(opted_out.as_e164())
        .send()
        .await
        .unwrap();
    assert!(check.is_opted_out);
    let id = sender.send(&opted_out, &support(), "are you there?").await;
    assert!(id.is_ok(), "{id:?}");
}

#[tokio::test]
async fn unreachable_sns_is_transient() {
    let settings = ClientSettings::default().with_max_attempts(1);
    let (sender, recorder) = sender(&dead_endpoint(), &settings);
    let error = sender
        .send(&fresh::customer_number(), &support(), "hello")
        .await
        .unwrap_err();
    assert!(matches!(error, SmsError::Transient(_)), "{error:?}");
    assert!(error.is_retriable());
    assert_eq!(recorder.requests().len(), 1, "one attempt, as configured");
}
