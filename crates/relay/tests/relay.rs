#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The relay in-process against moto (DynamoDB, SNS) and connect-sim, through the real
//! adapters: what reaches the customer's phone, and what never does.
//!
//! Run with `scripts/with-emulators.sh cargo test -p bridge-relay`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bridge_core::session::Status;
use bridge_relay::forward::sms_parts;
use bridge_testkit::fresh::customer_number;
use bridge_testkit::wait::eventually;
use connect_sim::SimConfig;

use common::{InProcessRelay, SUPPORT, Stack, WAIT, metric};

const ORIGINATION: &str = "AWS.MM.SMS.OriginationNumber";
/// A few shards: these tests run in parallel, each with its own relay, against one moto.
const SHARDS: u16 = 8;

/// The value of SNS message attribute `name` in a captured Publish form.
fn attribute<'a>(form: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    (1..=10).find_map(|n| {
        let key = format!("MessageAttributes.entry.{n}.Name");
        (form.get(&key).map(String::as_str) == Some(name))
            .then(|| form.get(&format!("MessageAttributes.entry.{n}.Value.StringValue")))
            .flatten()
            .map(String::as_str)
    })
}

/// A reply of exactly 500 characters, words separated by spaces.
fn five_hundred_characters() -> String {
    let mut text = String::new();
    let mut n = 0;
    while text.chars().count() < 500 {
        n += 1;
        text.push_str(&format!(
            "Step {n}: check the cable and restart the router. "
        ));
    }
    text.chars()
        .take(500)
        .collect::<String>()
        .trim_end()
        .to_owned()
        + "x"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reply_is_one_rendered_sms_from_the_support_number_and_long_replies_are_ordered_parts()
 {
    // GIVEN a relay and a customer whose chat is active
    let stack = Stack::with_shards(SHARDS).await;
    let relay = InProcessRelay::start(&stack, &[("BRIDGE_JOINED_NOTICE", "false")]).await;
    let phone = customer_number();
    let session = stack
        .start_session(&phone, "hello, where is my order?")
        .await;
    let contact = session.contact_id().unwrap().clone();
    relay
        .wait_metric(&stack.http, "relay_sockets_open", 1.0)
        .await;

    // WHEN the agent answers in markdown
    stack
        .control
        .send(
            contact.as_str(),
            "text/markdown",
            "**Your order** has _shipped_: [track it](https://example.com/t/1)",
        )
        .await
        .unwrap();
    // THEN the customer gets it as plain text
    let first = "Your order has shipped: track it (https://example.com/t/1)";
    assert_eq!(stack.wait_sms(&phone, 1).await, [first]);

    // WHEN the agent sends a 500-character reply
    let long = five_hundred_characters();
    assert_eq!(long.chars().count(), 500);
    stack.agent_says(&contact, &long).await;
    // THEN it arrives as numbered parts, in order, after the first reply and nothing else
    let parts = sms_parts(&long, true);
    assert!(parts.len() >= 4, "{parts:?}");
    let sent = stack.wait_sms(&phone, 1 + parts.len()).await;
    assert_eq!(sent[0], first);
    assert_eq!(sent[1..], parts[..]);
    for (index, part) in sent[1..].iter().enumerate() {
        assert!(part.starts_with(&format!("({}/{}) ", index + 1, parts.len())));
    }

    // AND every Publish came from the support number (attribute on the captured request)
    let publishes: Vec<_> = stack
        .captured
        .forms()
        .into_iter()
        .filter(|form| form.get("Action").map(String::as_str) == Some("Publish"))
        .collect();
    assert_eq!(publishes.len(), sent.len());
    for form in &publishes {
        assert_eq!(
            form.get("PhoneNumber").map(String::as_str),
            Some(phone.as_e164())
        );
        assert_eq!(attribute(form, ORIGINATION), Some(SUPPORT));
    }

    // AND the cursor names the last reply of this chat
    let stored = stack.session(&phone).await;
    let cursor = stored.relay_cursor.expect("cursor written");
    assert_eq!(cursor.contact_id, contact);
    relay
        .wait_metric(
            &stack.http,
            "relay_messages_relayed_total{kind=\"message\"}",
            2.0,
        )
        .await;
    let text = relay.metrics(&stack.http).await;
    assert_eq!(
        metric(&text, "relay_sms_parts_sent_total"),
        Some(sent.len() as f64)
    );
    // (the long reply, sent once the first had arrived, came as a socket frame and is
    // timed; the first is timed too unless it landed while the worker's first transcript
    // read was in flight, which then delivered it with no frame to time it from)
    let timed = metric(&text, "relay_agent_to_sms_seconds_count").unwrap_or(0.0);
    assert!((1.0..=2.0).contains(&timed), "{timed} replies timed");
    assert_eq!(
        stack.sms_to(&phone).await.len(),
        sent.len(),
        "no duplicate arrived late"
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_texts_are_never_echoed_back_as_sms() {
    // GIVEN a relay with the joined notice on, and a chat opened by the customer's text
    let stack = Stack::with_shards(SHARDS).await;
    let relay = InProcessRelay::start(&stack, &[]).await;
    let phone = customer_number();
    let session = stack
        .start_session(&phone, "first text from the phone")
        .await;
    let contact = session.contact_id().unwrap().clone();
    relay
        .wait_metric(&stack.http, "relay_sockets_open", 1.0)
        .await;

    // WHEN the agent joins, the customer texts twice, and the agent answers
    stack.agent_joins(&contact, "Ana").await;
    stack
        .customer_says(&session, "second text from the phone")
        .await;
    stack
        .customer_says(&session, "third text from the phone")
        .await;
    stack.agent_says(&contact, "Thanks, checking now.").await;

    // THEN only the notice and the agent's reply reach the phone
    let sent = stack.wait_sms(&phone, 2).await;
    assert_eq!(
        sent,
        ["You are now chatting with Ana.", "Thanks, checking now."]
    );
    let text = relay.metrics(&stack.http).await;
    assert_eq!(
        metric(
            &text,
            "relay_messages_relayed_total{kind=\"joined_notice\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "relay_messages_relayed_total{kind=\"message\"}"),
        Some(1.0)
    );
    assert!(sent.iter().all(|sms| !sms.contains("from the phone")));
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_sockets_during_five_replies_lose_and_duplicate_nothing() {
    // GIVEN a relay holding the customer's socket
    let stack = Stack::with_shards(SHARDS).await;
    let relay = InProcessRelay::start(&stack, &[("BRIDGE_JOINED_NOTICE", "false")]).await;
    let phone = customer_number();
    let session = stack.start_session(&phone, "hi").await;
    let contact = session.contact_id().unwrap().clone();
    relay
        .wait_metric(&stack.http, "relay_sockets_open", 1.0)
        .await;
    let opened_before = stack.control.stats().await.unwrap()["SocketsOpenedTotal"];

    // WHEN the agent sends five replies and every socket is dropped after the second
    let expected: Vec<String> = (1..=5).map(|n| format!("reply {n} of 5")).collect();
    for (index, reply) in expected.iter().enumerate() {
        stack.agent_says(&contact, reply).await;
        if index == 1 {
            assert!(
                stack.control.drop_sockets().await.unwrap() >= 1,
                "the relay's socket was dropped"
            );
        }
    }

    // THEN all five arrive once, in order, and the relay reconnected
    assert_eq!(stack.wait_sms(&phone, 5).await, expected);
    eventually("a second socket", WAIT, || async {
        let opened = stack.control.stats().await.unwrap()["SocketsOpenedTotal"];
        (opened > opened_before).then_some(())
    })
    .await;
    relay
        .wait_metric(&stack.http, "relay_sockets_open", 1.0)
        .await;
    let text = relay.metrics(&stack.http).await;
    let reconnects: f64 = text
        .lines()
        .filter(|line| line.starts_with("relay_reconnects_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(reconnects >= 1.0, "{text}");

    // AND a later reply still comes through, once (nothing was queued twice)
    stack.agent_says(&contact, "reply after the drop").await;
    let sent = stack.wait_sms(&phone, 6).await;
    assert_eq!(sent[5], "reply after the drop");
    assert_eq!(sent.len(), 6);
    relay.stop().await;
}

/// A relay on `stack` that sends `closing` when a chat ends, and no joined notice.
async fn relay_with_closing_text(stack: &Stack, closing: &str) -> InProcessRelay {
    InProcessRelay::start(
        stack,
        &[
            ("BRIDGE_JOINED_NOTICE", "false"),
            ("BRIDGE_CLOSING_TEXT", closing),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_end_sends_the_closing_text_ends_the_session_and_leaks_nothing() {
    // GIVEN a relay configured with a closing text
    let stack = Stack::with_shards(SHARDS).await;
    let closing = "This chat has ended. Text us again any time.";
    let relay = relay_with_closing_text(&stack, closing).await;
    let phone = customer_number();
    let session = stack.start_session(&phone, "hi").await;
    let contact = session.contact_id().unwrap().clone();
    relay
        .wait_metric(&stack.http, "relay_sockets_open", 1.0)
        .await;
    relay.wait_metric(&stack.http, "relay_sessions", 1.0).await;

    // WHEN the agent says goodbye and ends the chat
    stack.agent_says(&contact, "Goodbye!").await;
    stack.agent_ends(&contact).await;

    // THEN the customer gets the reply, then the closing text
    assert_eq!(stack.wait_sms(&phone, 2).await, ["Goodbye!", closing]);
    // AND the session is ended in the table
    eventually("session ended", WAIT, || async {
        (stack.session(&phone).await.status == Status::Ended).then_some(())
    })
    .await;
    // AND the socket is closed and the worker gone, on both sides
    relay
        .wait_metric(&stack.http, "relay_sockets_open", 0.0)
        .await;
    relay.wait_metric(&stack.http, "relay_sessions", 0.0).await;
    eventually("sim holds no socket", WAIT, || async {
        let stats = stack.control.stats().await.unwrap();
        (stats.get("SocketsOpen") == Some(&0)).then_some(())
    })
    .await;
    let text = relay.metrics(&stack.http).await;
    assert_eq!(
        metric(&text, "relay_messages_relayed_total{kind=\"closing\"}"),
        Some(1.0)
    );
    assert_eq!(stack.sms_to(&phone).await.len(), 2);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_chained_persistent_chats_each_reach_the_phone_once() {
    // GIVEN a relay with a closing text, a customer whose chats continue one another, and
    // a connect-sim whose FORWARD transcript reads start at the oldest past item (Connect
    // does not document where they start; the relay's catch-up reads FORWARD)
    let stack = Stack::with_sim(SimConfig {
        concurrent_chat_limit: None,
        past_items_forward: true,
        ..SimConfig::default()
    })
    .await;
    let closing = "This chat has ended.";
    let relay = relay_with_closing_text(&stack, closing).await;
    let phone = customer_number();
    let mut expected: Vec<String> = Vec::new();
    for chat in 1..=3 {
        // WHEN the customer texts the same words, the new chat continues from the last,
        // and the agent replies (and ends the first two)
        let session = stack.start_session_from(&phone, "yes", chat > 1).await;
        if chat > 1 {
            assert!(
                session.previous_contact_id.is_some(),
                "chat {chat} continues the last"
            );
        }
        let contact = session.contact_id().unwrap().clone();
        let reply = format!("reply in chat {chat}");
        stack.agent_says(&contact, &reply).await;
        expected.push(reply);
        // (the reply on the phone shows the relay holds this chat: ending it before then
        // would be the gap the S3 transcript covers, which this stack does not serve)
        assert_eq!(stack.wait_sms(&phone, expected.len()).await, expected);
        if chat < 3 {
            stack.agent_ends(&contact).await;
            expected.push(closing.to_owned());
            eventually("session ended", WAIT, || async {
                (stack.session(&phone).await.status == Status::Ended).then_some(())
            })
            .await;
        }
        // THEN the phone has each reply and closing text once, in order: the past chats'
        // items the new chat's transcript and socket carry (RelatedContactId) are not
        // sent again, nor is a past chat's end taken for this chat's
        assert_eq!(stack.wait_sms(&phone, expected.len()).await, expected);
    }
    let third = stack.session(&phone).await;
    assert_eq!(third.status, Status::Active, "the third chat goes on");
    // AND nothing more arrives once the third chat has caught up and streamed a while
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.sms_to(&phone).await, expected);
    relay.stop().await;
}

/// `sessions` sessions held by a relay with `extra` settings, every socket dropped while
/// connect-sim enforces Connect's quotas: how many calls the sim throttled until every
/// session was connected again.
async fn throttled_during_a_mass_reconnect(sessions: u64, extra: &[(&str, &str)]) -> u64 {
    let stack = Stack::with_shards(SHARDS).await;
    let relay = InProcessRelay::start(&stack, extra).await;
    for n in 0..sessions {
        stack
            .start_session(&customer_number(), &format!("hi {n}"))
            .await;
    }
    relay
        .wait_metric(&stack.http, "relay_sockets_open", sessions as f64)
        .await;
    stack.control.set_quotas(true).await.unwrap();
    let opened_before = stack.control.stats().await.unwrap()["SocketsOpenedTotal"];

    assert_eq!(stack.control.drop_sockets().await.unwrap() as u64, sessions);
    eventually("every session connected again", WAIT, || async {
        let opened = stack.control.stats().await.unwrap()["SocketsOpenedTotal"];
        (opened >= opened_before + sessions).then_some(())
    })
    .await;
    relay
        .wait_metric(&stack.http, "relay_sockets_open", sessions as f64)
        .await;
    let throttled = stack.control.stats().await.unwrap()["ThrottledTotal"];
    relay.stop().await;
    throttled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_reconnect_keeps_within_connects_connection_quota() {
    // GIVEN 16 sessions and Connect's quota of 6 connections a second, burst 9
    // WHEN every socket drops at once and the relay keeps to its default share
    let throttled = throttled_during_a_mass_reconnect(16, &[]).await;

    // THEN Connect refused nothing: the relay waited its turns instead
    assert_eq!(throttled, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_rate_limit_the_same_reconnect_is_throttled() {
    // GIVEN the same 16 sessions, the relay's rate limit off (only its concurrency cap)
    // WHEN every socket drops at once
    let throttled =
        throttled_during_a_mass_reconnect(16, &[("BRIDGE_RELAY_CONNECT_RATE", "0")]).await;

    // THEN Connect throttled some of the reconnects: the scenario does press the quota
    // (every session still came back: the SDK and the relay retry)
    assert!(throttled > 0, "no call was throttled");
}
