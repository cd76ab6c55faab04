//! Idle timers fit for SMS, through the whole local stack (issue: SMS as a Connect
//! channel): the relay sets the customer's chat timers on a new chat; connect-sim enforces
//! them; the customer who goes quiet gets the idle warning by SMS, a text restarts the
//! timers, and when the disconnect timer runs out the chat ends with the closing text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::Duration;

use bridge_core::config::DEFAULT_IDLE_WARNING_TEXT;
use harness::{
    Stack, agent_says, connect_sim, customer_said, http, outbox, sms_to, texts, unique_number,
    wait_until,
};
use serde_json::{Value, json};

fn contact(sim: &str, contact_id: &str) -> Value {
    http()
        .get(format!("{sim}/sim/contacts/{contact_id}"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Moves connect-sim's clock forward; its deadlines fire before it answers.
fn minutes_pass(sim: &str, minutes: f64) {
    let response = http()
        .post(format!("{sim}/sim/clock/advance"))
        .json(&json!({ "Seconds": minutes * 60.0 }))
        .send()
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

fn sms_count(moto: &str, customer: &str, body: &str) -> usize {
    outbox(moto)
        .iter()
        .filter(|(to, text)| to == customer && text == body)
        .count()
}

#[test]
fn a_quiet_customer_is_warned_by_sms_and_the_chat_then_ends() {
    let (_sim_proc, sim) = connect_sim(&[]);
    let stack = Stack::new(&sim);
    stack.init_table();
    let (_relay, _admin) = stack.relay_with(&[
        ("BRIDGE_IDLE_WARN_MINUTES", "2"),
        ("BRIDGE_IDLE_DISCONNECT_MINUTES", "3"),
        ("BRIDGE_CLOSING_TEXT", "Chat closed."),
    ]);
    let customer = unique_number();

    // GIVEN a chat the customer started
    let started = texts(&stack, &customer, "hi, my order is late");
    let contact_id = started["contact_id"].as_str().unwrap().to_owned();
    // THEN the relay gives the new chat the customer's timers before an agent joins
    let timers = wait_until("the chat's timers", Duration::from_secs(30), || {
        let timers = contact(&sim, &contact_id)["Timers"].clone();
        timers
            .as_array()
            .is_some_and(|t| !t.is_empty())
            .then_some(timers)
    });
    assert_eq!(
        timers,
        json!([
            {"ParticipantRole": "CUSTOMER", "TimerType": "IDLE", "DurationInMinutes": 2},
            {"ParticipantRole": "CUSTOMER", "TimerType": "DISCONNECT_NONCUSTOMER", "DurationInMinutes": 3},
        ])
    );

    // WHEN an agent answers and the customer says nothing for two minutes
    agent_says(&sim, &contact_id, "Sorry to hear that. Your order number?");
    sms_to(&stack.moto, &customer, |body| {
        body == "Sorry to hear that. Your order number?"
    });
    minutes_pass(&sim, 2.0);
    // THEN the customer is asked by SMS whether they are still there
    sms_to(&stack.moto, &customer, |body| {
        body == DEFAULT_IDLE_WARNING_TEXT
    });

    // WHEN the customer answers, the timers start again: two more quiet minutes bring a
    // second warning, not the end
    texts(&stack, &customer, "A-1234");
    customer_said(&sim, &contact_id, "A-1234");
    minutes_pass(&sim, 2.0);
    wait_until("a second idle warning", Duration::from_secs(30), || {
        (sms_count(&stack.moto, &customer, DEFAULT_IDLE_WARNING_TEXT) == 2).then_some(())
    });
    assert_eq!(contact(&sim, &contact_id)["Status"], "ACTIVE");

    // WHEN three more minutes pass without a text
    minutes_pass(&sim, 3.0);
    // THEN the agent is disconnected, the chat ends, and the customer gets the closing text
    sms_to(&stack.moto, &customer, |body| body == "Chat closed.");
    assert_eq!(contact(&sim, &contact_id)["Status"], "ENDED");
    assert_eq!(
        sms_count(&stack.moto, &customer, DEFAULT_IDLE_WARNING_TEXT),
        2,
        "one warning per idle spell"
    );
}
