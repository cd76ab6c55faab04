//! The bridge under a burst: `bridge replay` of 1,000 inbound events, with 10% duplicates,
//! in bursts of 20 concurrent texts per customer, through the whole local stack with the
//! relay running. Afterwards: exactly one live chat per customer (connect-sim's list),
//! every text exactly once in its chat's transcript, and every agent reply (sent through
//! connect-sim's control API) exactly once as SMS (moto's outbox).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use bridge_testkit::fresh;
use harness::{Stack, agent_says, connect_sim, contacts, customer_messages, outbox, wait_until};

const CUSTOMERS: usize = 45;
const TEXTS_PER_CUSTOMER: usize = 20;
const DUPLICATES: usize = 100;
const SUPPORT: &str = "+18005550100";

fn payload(from: &str, body: &str, id: &str) -> String {
    serde_json::json!({
        "originationNumber": from,
        "destinationNumber": SUPPORT,
        "messageKeyword": "KEYWORD_123456789012",
        "messageBody": body,
        "previousPublishedMessageId": "",
        "inboundMessageId": id,
    })
    .to_string()
}

struct Recording {
    jsonl: String,
    /// Customer → the texts they sent (unique bodies).
    texts: BTreeMap<String, Vec<String>>,
    events: usize,
}

/// 45 customers × 20 texts, each burst followed by half of its duplicates (they race the
/// originals); the other duplicates come at the end (a late redelivery).
fn recording(run: &str) -> Recording {
    let mut texts = BTreeMap::new();
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut late = Vec::new();
    for customer in 0..CUSTOMERS {
        let number = fresh::customer();
        let mut burst = Vec::new();
        let mut bodies = Vec::new();
        for seq in 0..TEXTS_PER_CUSTOMER {
            let body = format!("{run} customer {customer} text {seq}");
            burst.push(payload(&number, &body, &format!("{run}-{customer}-{seq}")));
            bodies.push(body);
        }
        texts.insert(number, bodies);
        lines.push(burst);
    }
    for i in 0..DUPLICATES {
        let customer = i % CUSTOMERS;
        let seq = (i * 7) % TEXTS_PER_CUSTOMER;
        let copy = lines[customer][seq].clone();
        if i % 2 == 0 {
            lines[customer].push(copy);
        } else {
            late.push(copy);
        }
    }
    let mut jsonl = String::new();
    let mut events = 0;
    for line in lines.iter().flatten().chain(late.iter()) {
        writeln!(jsonl, "{line}").unwrap();
        events += 1;
    }
    Recording {
        jsonl,
        texts,
        events,
    }
}

#[test]
fn a_thousand_events_with_duplicates_and_bursts_give_one_chat_per_customer() {
    // GIVEN the whole stack with the relay running, and the recording
    let (_sim, sim) = connect_sim(&[]);
    let stack = Stack::new(&sim);
    stack.init_table();
    let (_relay, _admin) = stack.relay();
    let recording = recording(&fresh::name("burst"));
    assert_eq!(recording.events, 1_000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("burst.jsonl");
    let summary = dir.path().join("summary.json");
    std::fs::write(&file, &recording.jsonl).unwrap();

    // WHEN it is replayed, 20 at a time, in no particular order
    let (ok, stdout, stderr) = stack.run_bridge(&[
        "replay",
        file.to_str().unwrap(),
        "--speed",
        "max",
        "--concurrency",
        "20",
        "--order",
        "none",
        "--progress",
        "never",
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    assert!(ok, "replay failed:\n{stdout}{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let tally = &summary["tally"];
    // THEN nothing failed or was rejected, and every event was delivered or a duplicate
    assert_eq!(tally["failures"], 0, "{tally}");
    assert_eq!(tally["rejected"], serde_json::json!({}), "{tally}");
    let delivered = tally["delivered"].as_u64().unwrap();
    let duplicates = tally["duplicates"].as_u64().unwrap();
    assert_eq!(delivered + duplicates, 1_000, "{tally}");
    assert!(duplicates > 0, "{tally}");

    // AND each customer has exactly one chat, live, holding each text exactly once
    let all = contacts(&sim);
    let mut problems = Vec::new();
    let mut chats = BTreeMap::new();
    for (number, bodies) in &recording.texts {
        let mine: Vec<_> = all
            .iter()
            .filter(|c| c.customer() == Some(number.as_str()))
            .collect();
        if mine.len() != 1 || mine[0].is_ended() {
            problems.push(format!("{number}: chats {mine:?}"));
            continue;
        }
        let contact_id = mine[0].contact_id.clone();
        let mut got = customer_messages(&sim, &contact_id);
        got.sort();
        let mut want = bodies.clone();
        want.sort();
        if got != want {
            problems.push(format!("{number}: transcript {got:?}, expected {want:?}"));
        }
        chats.insert(number.clone(), contact_id);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // WHEN the agent answers each chat
    for (number, contact_id) in &chats {
        agent_says(&sim, contact_id, &format!("reply to {number}"));
    }
    // THEN every reply reaches its customer as SMS, exactly once
    let count = |sms: &[(String, String)], to: &str, body: &str| {
        sms.iter().filter(|(n, b)| n == to && b == body).count()
    };
    let sms = wait_until("every reply as SMS", Duration::from_secs(120), || {
        let sms = outbox(&stack.moto);
        chats
            .keys()
            .all(|number| count(&sms, number, &format!("reply to {number}")) >= 1)
            .then_some(sms)
    });
    for number in chats.keys() {
        assert_eq!(
            count(&sms, number, &format!("reply to {number}")),
            1,
            "{number}"
        );
        let joined = sms
            .iter()
            .filter(|(n, b)| n == number && b.starts_with("You are now chatting with"))
            .count();
        assert_eq!(joined, 1, "{number}: joined notices");
        let total = sms.iter().filter(|(n, _)| n == number).count();
        assert_eq!(
            total, 2,
            "{number}: exactly the joined notice and the reply"
        );
    }
}
