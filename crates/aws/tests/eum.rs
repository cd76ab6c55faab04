//! The End User Messaging sender (`EumSender`) against connect-sim's stand-in for
//! SendTextMessage, through the real `aws-sdk-pinpointsmsvoicev2` client: what it sends,
//! and how each refusal is classified (what the relay skips, and what it holds replies
//! for until an operator fixes it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bridge_aws::{ClientSettings, Clients, EumSender};
use bridge_core::PhoneNumber;
use bridge_core::config::EndUserMessaging;
use bridge_core::ids::{ContactId, ItemId};
use bridge_core::ports::{DeliveryTag, SmsError, SmsSender};
use connect_sim::{RunningSim, SimConfig};
use serde_json::{Value, json};

const CUSTOMER: &str = "+14255550156";
const SUPPORT: &str = "+18005550100";

struct Harness {
    sim: RunningSim,
    clients: Clients,
    http: reqwest::Client,
}

impl Harness {
    async fn new(settings: &ClientSettings) -> Self {
        let sim = connect_sim::spawn(SimConfig {
            sms_configuration_sets: vec!["bridge".parse().unwrap()],
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let clients = Clients::new(&bridge_aws::emulator_config(&sim.base_url()), settings);
        Self {
            sim,
            clients,
            http: reqwest::Client::new(),
        }
    }

    fn sender(&self, settings: EndUserMessaging) -> EumSender {
        EumSender::new(self.clients.sms_voice.clone(), settings)
    }

    async fn post(&self, path: &str, body: Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}");
    }

    async fn sent(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/sim/sms/messages", self.sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn phone(number: &str) -> PhoneNumber {
    PhoneNumber::parse(number).unwrap()
}

fn configured() -> EndUserMessaging {
    EndUserMessaging {
        configuration_set: Some("bridge".to_owned()),
        origination_pool: None,
        ttl_secs: Some(600),
    }
}

#[tokio::test]
async fn a_reply_goes_from_the_support_number_with_its_tag_and_a_notice_without() {
    let h = Harness::new(&common::settings()).await;
    let sender = h.sender(configured());
    let tag = DeliveryTag {
        contact_id: ContactId::new("c-1").unwrap(),
        item_id: ItemId::new("i-9").unwrap(),
        part: 2,
        parts: 3,
    };
    let id = sender
        .send_tagged(&phone(CUSTOMER), &phone(SUPPORT), "part two", &tag)
        .await
        .unwrap();
    sender
        .send(&phone(CUSTOMER), &phone(SUPPORT), "Chat closed.")
        .await
        .unwrap();

    let sent = h.sent().await;
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[0]["MessageId"], id.as_str());
    assert_eq!(sent[0]["DestinationPhoneNumber"], CUSTOMER);
    assert_eq!(sent[0]["OriginationIdentity"], SUPPORT);
    assert_eq!(sent[0]["MessageBody"], "part two");
    assert_eq!(sent[0]["MessageType"], "TRANSACTIONAL");
    assert_eq!(sent[0]["ConfigurationSetName"], "bridge");
    assert_eq!(sent[0]["TimeToLive"], 600);
    assert_eq!(
        sent[0]["Context"],
        json!({"bridgeContactId": "c-1", "bridgeItemId": "i-9", "bridgePart": "2/3",
               "bridgeSupportNumber": SUPPORT})
    );
    assert!(sent[1]["Context"].is_null(), "{}", sent[1]);
}

#[tokio::test]
async fn a_pool_replaces_the_support_number_as_origination() {
    let h = Harness::new(&common::settings()).await;
    let sender = h.sender(EndUserMessaging {
        origination_pool: Some("pool-0123456789abcdef0123456789abcdef".to_owned()),
        ..EndUserMessaging::default()
    });
    sender
        .send(&phone(CUSTOMER), &phone(SUPPORT), "hello")
        .await
        .unwrap();
    assert_eq!(
        h.sent().await[0]["OriginationIdentity"],
        "pool-0123456789abcdef0123456789abcdef"
    );
}

#[tokio::test]
async fn refusals_are_classified_for_the_relay() {
    let h = Harness::new(&common::settings().with_max_attempts(1)).await;
    let to = phone(CUSTOMER);
    let from = phone(SUPPORT);

    // An opted-out number: never deliverable, skipped.
    h.post(
        "/sim/sms/opt-outs",
        json!({"PhoneNumber": CUSTOMER, "OptedOut": true}),
    )
    .await;
    let error = h
        .sender(configured())
        .send(&to, &from, "hi")
        .await
        .unwrap_err();
    assert!(matches!(error, SmsError::OptedOut), "{error:?}");
    assert!(error.is_undeliverable());
    h.post(
        "/sim/sms/opt-outs",
        json!({"PhoneNumber": CUSTOMER, "OptedOut": false}),
    )
    .await;

    // A configuration set that does not exist: the operator's to fix; replies wait.
    let unknown = h.sender(EndUserMessaging {
        configuration_set: Some("missing".to_owned()),
        ..EndUserMessaging::default()
    });
    let error = unknown.send(&to, &from, "hi").await.unwrap_err();
    assert!(matches!(error, SmsError::Other(_)), "{error:?}");
    assert!(!error.is_undeliverable() && !error.is_retriable());

    // Throttling and outages pass by themselves.
    let throttled: fn(&SmsError) -> bool = |e| matches!(e, SmsError::Throttled(_));
    let transient: fn(&SmsError) -> bool = |e| matches!(e, SmsError::Transient(_));
    for (status, expected) in [(429, throttled), (500, transient)] {
        h.post(
            "/sim/faults",
            json!({"Operation": "SendTextMessage", "Status": status, "Count": 1}),
        )
        .await;
        let error = h
            .sender(configured())
            .send(&to, &from, "hi")
            .await
            .unwrap_err();
        assert!(
            expected(&error) && error.is_retriable(),
            "{status}: {error:?}"
        );
    }

    // What the service refuses as invalid is never retried.
    let invalid = h.sender(EndUserMessaging {
        origination_pool: Some("not a pool!".to_owned()),
        ..EndUserMessaging::default()
    });
    let error = invalid.send(&to, &from, "hi").await.unwrap_err();
    assert!(matches!(error, SmsError::Invalid(_)), "{error:?}");
    // And an empty body never leaves the process.
    let error = h
        .sender(configured())
        .send(&to, &from, "")
        .await
        .unwrap_err();
    assert!(matches!(error, SmsError::Invalid(_)), "{error:?}");
    assert!(h.sent().await.is_empty());
}
