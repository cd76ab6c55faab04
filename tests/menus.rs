//! Interactive messages over SMS, through the whole local stack (issue: SMS as a Connect
//! channel): an agent's list picker reaches the phone as a numbered menu; the customer's
//! `2` reaches the chat as the second option's text, as Connect's chat widget sends it;
//! once the agent writes again the menu has expired and a `1` goes in as written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::Duration;

use bridge_testkit::fresh;
use harness::{
    Stack, block_on, connect_sim, contacts, control, customer_messages, customer_said, http,
    sms_to, texts,
};
use serde_json::{Value, json};

const INTERACTIVE: &str = "application/vnd.amazonaws.connect.message.interactive";

/// The agent sends `content`; fails with the sim's status and answer when it refuses.
fn agent_sends(sim: &str, contact_id: &str, content_type: &str, content: &str) {
    block_on(control(sim).send(contact_id, content_type, content))
        .unwrap_or_else(|error| panic!("{error:#}"));
}

#[test]
fn a_numbered_answer_to_an_agents_menu_reaches_the_chat_as_the_option() {
    let (_sim_proc, sim) = connect_sim(&[]);
    let stack = Stack::new(&sim);
    stack.init_table();
    let (_relay, _admin) = stack.relay();
    let customer = fresh::customer();

    // GIVEN a chat the customer started
    let started = texts(&stack, &customer, "hi, I have a question");
    let contact_id = started["contact_id"].as_str().unwrap().to_owned();
    assert!(
        contacts(&sim)
            .iter()
            .any(|c| c.customer() == Some(customer.as_str()))
    );

    // WHEN the agent sends a list picker
    let picker = json!({"templateType": "ListPicker", "version": "1.0", "data": {"content": {
        "title": "Which team?", "elements": [
            {"title": "Billing", "subtitle": "invoices, refunds"},
            {"title": "Sales"},
            {"title": "Support"}]}}});
    agent_sends(&sim, &contact_id, INTERACTIVE, &picker.to_string());

    // THEN the phone gets it as a numbered menu
    let menu = sms_to(&stack.moto, &customer, |body| {
        body.starts_with("Which team?")
    });
    assert_eq!(
        menu,
        "Which team?\n1. Billing - invoices, refunds\n2. Sales\n3. Support\nReply 1, 2 or 3."
    );

    // (the relay stores the menu with the item's cursor, just after the SMS went out)
    std::thread::sleep(Duration::from_secs(2));
    // AND the customer's "2" reaches the chat as the option's text
    let sent = texts(&stack, &customer, "2");
    assert_eq!(sent["outcome"], "delivered", "{sent}");
    customer_said(&sim, &contact_id, "Sales");

    // AND an option's text, in any case, chooses it too
    texts(&stack, &customer, "  support ");
    customer_said(&sim, &contact_id, "Support");

    // WHEN the agent writes again, the menu has expired: a "1" goes in as written. (The
    // relay closes the menu with the message's cursor write, after its SMS and before the
    // next message's: the second SMS says the first one's write is done.)
    for reply in ["Thanks, one moment.", "Here it is."] {
        agent_sends(&sim, &contact_id, "text/plain", reply);
    }
    sms_to(&stack.moto, &customer, |body| body == "Here it is.");
    texts(&stack, &customer, "1");
    customer_said(&sim, &contact_id, "1");
    assert!(
        !customer_messages(&sim, &contact_id).contains(&"Billing".to_owned()),
        "a stale menu answered"
    );
}

#[test]
fn connect_sim_refuses_a_template_a_flow_would_refuse() {
    let (_sim_proc, sim) = connect_sim(&[]);
    let stack = Stack::new(&sim);
    stack.init_table();
    let customer = fresh::customer();
    let started = texts(&stack, &customer, "hello");
    let contact_id = started["contact_id"].as_str().unwrap();
    let seven: Vec<Value> = (1..=7)
        .map(|n| json!({"title": format!("option {n}")}))
        .collect();
    let picker = json!({"templateType": "ListPicker", "version": "1.0",
        "data": {"content": {"title": "Too many", "elements": seven}}});
    // Raw HTTP: the status and the answer's text are what this test is about.
    let response = http()
        .post(format!("{sim}/sim/contacts/{contact_id}/agent/messages"))
        .json(&json!({ "Content": picker.to_string(), "ContentType": INTERACTIVE }))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body = response.text().unwrap();
    assert!(body.contains("elements must hold 1 to 6 items"), "{body}");
}
