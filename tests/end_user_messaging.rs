//! Sending through End User Messaging, through the whole local stack (issue: SMS as a
//! Connect channel): with `BRIDGE_SMS_API=end-user-messaging` the relay sends an agent's
//! reply with SendTextMessage (connect-sim stands in for the service), tagged with its
//! chat and item for the delivery events; the bridge's own notices go untagged; the
//! keyword replies of the inbound side take the same sender; `bridge outbox` lists them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::Duration;

use bridge_testkit::fresh;
use bridge_testkit::sim::SimSms;
use harness::{Stack, agent_says, block_on, connect_sim, control, outbox, texts, wait_until};
use serde_json::Value;

fn sim_sms(sim: &str, customer: &str) -> Vec<SimSms> {
    let mut all = block_on(control(sim).sms_messages()).unwrap();
    all.retain(|sms| sms.destination_phone_number == customer);
    all
}

/// A field of what SendTextMessage was given (`Value::Null` when absent).
fn field<'a>(sms: &'a SimSms, name: &str) -> &'a Value {
    sms.rest.get(name).unwrap_or(&Value::Null)
}

#[test]
fn replies_go_through_end_user_messaging_tagged_for_delivery_events() {
    let moto = bridge_testkit::emulators::moto();
    let topic = format!(
        "arn:aws:sns:us-east-1:123456789012:{}",
        fresh::name("sms-events")
    );
    let (_sim_proc, sim) =
        connect_sim(&["--sms-configuration-set", &format!("bridge={moto}|{topic}")]);
    let stack = Stack::new(&sim);
    stack.init_table();
    let eum = [
        ("BRIDGE_SMS_API", "end-user-messaging"),
        ("BRIDGE_SMS_CONFIGURATION_SET", "bridge"),
    ];
    let (_relay, _admin) = stack.relay_with(&eum);
    let customer = fresh::customer();

    // GIVEN a chat the customer started
    let started = texts(&stack, &customer, "where is my parcel?");
    let contact_id = started["contact_id"].as_str().unwrap().to_owned();
    // WHEN the agent joins and replies
    agent_says(&sim, &contact_id, "It left today.");
    // THEN the joined notice and the reply go out through End User Messaging, from the
    // support number, with the configuration set; only the reply names its chat message
    let sent = wait_until(
        "two sms through end user messaging",
        Duration::from_secs(30),
        || {
            let sent = sim_sms(&sim, &customer);
            (sent.len() >= 2).then_some(sent)
        },
    );
    let reply = sent
        .iter()
        .find(|sms| sms.message_body == "It left today.")
        .unwrap_or_else(|| panic!("{sent:#?}"));
    assert_eq!(field(reply, "OriginationIdentity"), "+18005550100");
    assert_eq!(field(reply, "ConfigurationSetName"), "bridge");
    assert_eq!(
        field(reply, "Context")["bridgeContactId"],
        contact_id.as_str()
    );
    assert_eq!(field(reply, "Context")["bridgePart"], "1/1");
    let notice = sent
        .iter()
        .find(|sms| sms.message_body != "It left today.")
        .unwrap();
    assert!(field(notice, "Context").is_null(), "{notice:?}");
    // AND nothing went through SNS
    assert!(outbox(&moto).iter().all(|(to, _)| to != &customer));
    // AND `bridge outbox` lists what End User Messaging sent
    let (ok, stdout, stderr) = stack.run_bridge(&["outbox", "--to", &customer]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("It left today."), "{stdout}");
}
