//! The End User Messaging sender (`EumSender`) against connect-sim's stand-in for
//! SendTextMessage, through the real `aws-sdk-pinpointsmsvoicev2` client: what it sends,
//! and how each refusal is classified (what the relay skips, and what it holds replies
//! for until an operator fixes it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bridge_aws::{ClientSettings, Clients, EumSender};
use bridge_core::PhoneNumber;
use bridge_core::config::EndUserMessaging;
use bridge_core::ids::{ContactId, ItemId};
use bridge_core::ports::{DeliveryTag, SmsError, SmsSender};
use bridge_testkit::emulators::client_settings;
use bridge_testkit::sim::SimSms;
use bridge_testkit::{SimControl, SimFault, emulator_config};
use connect_sim::{RunningSim, SimConfig};
use serde_json::{Value, json};

const CUSTOMER: &str = "+14255550156";
const SUPPORT: &str = "+18005550100";

struct Harness {
    /// Kept for its lifetime: dropping it stops the sim.
    _running: RunningSim,
    clients: Clients,
    sim: SimControl,
}

impl Harness {
    async fn new(settings: &ClientSettings) -> Self {
        let sim = connect_sim::spawn(SimConfig {
            sms_configuration_sets: vec!["bridge".parse().unwrap()],
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let clients = Clients::new(&emulator_config(&sim.base_url()), settings);
        Self {
            clients,
            sim: SimControl::new(&sim.base_url()).unwrap(),
            _running: sim,
        }
    }

    fn sender(&self, settings: EndUserMessaging) -> EumSender {
        EumSender::new(self.clients.sms_voice.clone(), settings)
    }

    async fn sent(&self) -> Vec<SimSms> {
        self.sim.sms_messages().await.unwrap()
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
    let h = Harness::new(&client_settings()).await;
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
    assert_eq!(sent[0].message_id, id.as_str());
    assert_eq!(sent[0].destination_phone_number, CUSTOMER);
    assert_eq!(sent[0].rest["OriginationIdentity"], SUPPORT);
    assert_eq!(sent[0].message_body, "part two");
    assert_eq!(sent[0].rest["MessageType"], "TRANSACTIONAL");
    assert_eq!(sent[0].rest["ConfigurationSetName"], "bridge");
    assert_eq!(sent[0].rest["TimeToLive"], 600);
    assert_eq!(
        sent[0].rest["Context"],
        json!({"bridgeContactId": "c-1", "bridgeItemId": "i-9", "bridgePart": "2/3",
               "bridgeSupportNumber": SUPPORT})
    );
    assert!(
        sent[1].rest.get("Context").is_none_or(Value::is_null),
        "{:?}",
        sent[1]
    );
}

#[tokio::test]
async fn a_pool_replaces_the_support_number_as_origination() {
    let h = Harness::new(&client_settings()).await;
    let sender = h.sender(EndUserMessaging {
        origination_pool: Some("pool-0123456789abcdef0123456789abcdef".to_owned()),
        ..EndUserMessaging::default()
    });
    sender
        .send(&phone(CUSTOMER), &phone(SUPPORT), "hello")
        .await
        .unwrap();
    assert_eq!(
        h.sent().await[0].rest["OriginationIdentity"],
        "pool-0123456789abcdef0123456789abcdef"
    );
}

#[tokio::test]
async fn refusals_are_classified_for_the_relay() {
    let h = Harness::new(&client_settings().with_max_attempts(1)).await;
    let to = phone(CUSTOMER);
    let from = phone(SUPPORT);

    // An opted-out number: never deliverable, skipped.
    h.sim.set_opted_out(CUSTOMER, true).await.unwrap();
    let error = h
        .sender(configured())
        .send(&to, &from, "hi")
        .await
        .unwrap_err();
    assert!(matches!(error, SmsError::OptedOut), "{error:?}");
    assert!(error.is_undeliverable());
    h.sim.set_opted_out(CUSTOMER, false).await.unwrap();

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
        h.sim
            .add_fault(&SimFault::fail("SendTextMessage", status).times(1))
            .await
            .unwrap();
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
