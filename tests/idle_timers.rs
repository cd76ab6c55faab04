//! Idle timers fit for SMS, through the whole local stack (issue: SMS as a Connect
//! channel): the relay sets the customer's chat timers on a new chat; connect-sim enforces
//! them; the customer who goes quiet gets the idle warning by SMS, a text restarts the
//! timers, and when the disconnect timer runs out the chat ends with the closing text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::Duration;

use bridge_core::config::DEFAULT_IDLE_WARNING_TEXT;
use bridge_testkit::fresh;
use bridge_testkit::sim::Contact;
use harness::{
    Stack, agent_says, block_on, connect_sim, control, customer_said, outbox, sms_to, texts,
    wait_until,
};
use serde_json::{Value, json};

fn contact(sim: &str, contact_id: &str) -> Contact {
    block_on(control(sim).contact(contact_id)).unwrap()
}

/// The chat timers connect-sim holds for a contact (`Value::Null` when none).
fn timers(contact: &Contact) -> Value {
    contact.rest.get("Timers").cloned().unwrap_or(Value::Null)
}

/// Moves connect-sim's clock forward; its deadlines fire before it answers.
fn minutes_pass(sim: &str, minutes: f64) {
    block_on(control(sim).advance_clock(Duration::from_secs_f64(minutes * 60.0)))
        .unwrap_or_else(|error| panic!("{error:#}"));
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
    let customer = fresh::customer();

    // GIVEN a chat the customer started
    let started = texts(&stack, &customer, "hi, my order is late");
    let contact_id = started["contact_id"].as_str().unwrap().to_owned();
    // THEN the relay gives the new chat the customer's timers before an agent joins
    let timers = wait_until("the chat's timers", Duration::from_secs(30), || {
        let timers = timers(&contact(&sim, &contact_id));
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
    assert_eq!(contact(&sim, &contact_id).status, "ACTIVE");

    // WHEN three more minutes pass without a text
    minutes_pass(&sim, 3.0);
    // THEN the agent is disconnected, the chat ends, and the customer gets the closing text
    sms_to(&stack.moto, &customer, |body| body == "Chat closed.");
    assert_eq!(contact(&sim, &contact_id).status, "ENDED");
    assert_eq!(
        sms_count(&stack.moto, &customer, DEFAULT_IDLE_WARNING_TEXT),
        2,
        "one warning per idle spell"
    );
}
