#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real `bridge-relay` binary against moto and connect-sim, where processes matter: a
//! crash (SIGKILL) and restart, and two instances sharing the shards with a graceful
//! hand-over (SIGTERM).
//!
//! Run with `scripts/with-emulators.sh cargo test -p bridge-relay`.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use bridge_core::PhoneNumber;
use bridge_core::ids::ContactId;
use bridge_testkit::emulators;
use bridge_testkit::fresh::{self, customer_number};
use bridge_testkit::wait::{eventually, poll_every};
use common::{RelayProcess, SHARDS, SMS_POLL, Stack, WAIT, collapse_repeats};
use serde_json::Value;

/// These tests run real processes against one moto, which serialises requests: one test at
/// a time keeps the shard queries of several relays from starving each other's renewals.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Short leases so a crashed instance's shards come back quickly.
const FAST_LEASES: [(&str, &str); 3] = [
    ("BRIDGE_RELAY_LEASE_TTL_MS", "6000"),
    ("BRIDGE_RELAY_LEASE_RENEW_MS", "2000"),
    ("BRIDGE_JOINED_NOTICE", "false"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_twenty_replies_then_restart_delivers_all_in_order_at_most_one_duplicate() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // GIVEN the relay binary holding a customer's socket
    let stack = Stack::start().await;
    let (relay, phone, contact) = relay_holding_a_chat(&stack, &FAST_LEASES).await;

    // WHEN the agent sends 20 replies (paced like a fast typist) and the relay is killed
    // with SIGKILL after the first few reached the phone
    let expected: Vec<String> = (1..=20).map(|n| format!("reply {n:02} of 20")).collect();
    let agent = tokio::spawn({
        let control = stack.control.clone();
        let contact = contact.clone();
        let replies = expected.clone();
        async move {
            for reply in replies {
                control.say(contact.as_str(), &reply).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    stack.wait_sms(&phone, 4).await;
    relay.kill9().await;
    let before_restart = stack.sms_to(&phone).await.len();
    agent.await.unwrap();
    assert!(
        before_restart < 20,
        "the crash happened mid-burst ({before_restart} delivered)"
    );

    // THEN a new process takes over after the dead one's leases lapse, and delivers the rest
    let restarted = RelayProcess::spawn(&stack, &FAST_LEASES).await;
    let sent = poll_every(SMS_POLL, "all 20 replies", WAIT, || async {
        let sent = stack.sms_to(&phone).await;
        let (distinct, _) = collapse_repeats(&sent);
        (distinct.len() >= 20).then_some(sent)
    })
    .await;
    let (distinct, repeats) = collapse_repeats(&sent);
    eprintln!(
        "kill -9 after {before_restart} of 20 delivered; duplicates after restart: {repeats}"
    );
    assert_eq!(distinct, expected, "in order, none lost");
    assert!(
        repeats <= 1,
        "at most one duplicate, got {repeats}: {sent:?}"
    );

    // AND the stream goes on normally afterwards
    stack.agent_says(&contact, "after the restart").await;
    let after = stack.wait_sms(&phone, sent.len() + 1).await;
    assert_eq!(after.last().map(String::as_str), Some("after the restart"));
    assert_eq!(after.len(), sent.len() + 1);
    assert!(restarted.terminate().await.success());
}

/// The contact ids each process logged "relaying session" for.
fn relayed_contacts(logs: &[String]) -> HashSet<String> {
    logs.iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|log| log["fields"]["message"] == "relaying session")
        .filter_map(|log| log["span"]["contact_id"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until the two relays hold 32 shards each (they may overlap for a moment at
/// start-up, when both race for free shards, until the one over its share sheds).
async fn wait_fair_split(stack: &Stack, a: &RelayProcess, b: &RelayProcess) {
    let half = f64::from(SHARDS / 2);
    eventually("64 shards split 32/32 between two relays", WAIT, || async {
        let owned_a = a.metric(&stack.http, "relay_shards_owned").await?;
        let owned_b = b.metric(&stack.http, "relay_shards_owned").await?;
        (owned_a == half && owned_b == half).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_split_the_shards_and_sigterm_hands_over_within_one_lease_expiry() {
    const SESSIONS: usize = 16;
    // The production lease timings (15 s TTL, renewed every 5 s).
    let lease_ttl = Duration::from_secs(15);
    let env = [("BRIDGE_JOINED_NOTICE", "false")];
    let _serial = ONE_AT_A_TIME.lock().await;
    // GIVEN two relay processes that split the 64 shards
    let stack = Stack::start().await;
    let a = RelayProcess::spawn(&stack, &env).await;
    let b = RelayProcess::spawn(&stack, &env).await;
    a.wait_ready(&stack.http).await;
    b.wait_ready(&stack.http).await;
    wait_fair_split(&stack, &a, &b).await;

    // AND active sessions across the keyspace
    let mut sessions: BTreeMap<String, (PhoneNumber, ContactId)> = BTreeMap::new();
    for n in 0..SESSIONS {
        let phone = customer_number();
        let session = stack
            .start_session(&phone, &format!("hello from {n}"))
            .await;
        let contact = session.contact_id().unwrap().clone();
        sessions.insert(contact.to_string(), (phone, contact));
    }
    eventually("every session relayed", WAIT, || async {
        let a = a.metric(&stack.http, "relay_sockets_open").await?;
        let b = b.metric(&stack.http, "relay_sockets_open").await?;
        (a + b == SESSIONS as f64).then_some(())
    })
    .await;

    // THEN each session is relayed by exactly one of them
    let by_a = relayed_contacts(&a.logs());
    let by_b = relayed_contacts(&b.logs());
    assert!(by_a.is_disjoint(&by_b), "a session relayed twice");
    let all: HashSet<String> = sessions.keys().cloned().collect();
    assert_eq!(&by_a | &by_b, all);
    assert!(
        !by_a.is_empty() && !by_b.is_empty(),
        "both relays hold sessions"
    );
    for (contact, (phone, id)) in &sessions {
        stack.agent_says(id, &format!("first for {contact}")).await;
        assert_eq!(
            stack.wait_sms(phone, 1).await,
            [format!("first for {contact}")]
        );
    }

    // WHEN a receives SIGTERM while the agents keep writing
    let started = Instant::now();
    let terminating = tokio::spawn(a.terminate());
    for (contact, (_, id)) in &sessions {
        stack.agent_says(id, &format!("second for {contact}")).await;
    }
    assert!(terminating.await.unwrap().success(), "a exits cleanly");

    // THEN b owns every shard and session within one lease expiry of the signal
    eventually("b took over", WAIT, || async {
        let owned = b.metric(&stack.http, "relay_shards_owned").await?;
        let sockets = b.metric(&stack.http, "relay_sockets_open").await?;
        (owned == f64::from(SHARDS) && sockets == SESSIONS as f64).then_some(())
    })
    .await;
    let took = started.elapsed();
    eprintln!("hand-over after SIGTERM took {took:?} (lease TTL {lease_ttl:?})");
    assert!(
        took < lease_ttl,
        "hand-over took {took:?}, more than one lease expiry"
    );

    // AND nothing was lost or repeated
    for (contact, (phone, _)) in &sessions {
        let sent = stack.wait_sms(phone, 2).await;
        assert_eq!(
            sent,
            [
                format!("first for {contact}"),
                format!("second for {contact}")
            ]
        );
    }
    assert!(b.terminate().await.success());
}

/// Which Connect behaviour the gap test runs against.
#[derive(Clone, Copy, Debug)]
enum AfterEnd {
    /// An unexpired connection token still reads the ended chat's transcript.
    TokenReads,
    /// Every token gets 403; Connect's transcript in S3 is the only record.
    OnlyTheArchive,
}

/// Acceptance for issue 12, item 1, with the stack as `make demo` starts it: the relay is
/// killed; the agent sends two replies and ends the chat; the relay restarts → both
/// replies and the closing text reach the phone, once, in order.
async fn a_chat_ended_while_the_relay_was_down_reaches_the_phone(mode: AfterEnd) {
    let _serial = ONE_AT_A_TIME.lock().await;
    // GIVEN connect-sim behaving as `mode` says (and writing transcripts to moto's S3, as
    // Connect writes them to the instance's bucket), and a relay holding a live chat
    let bucket = fresh::name("transcripts");
    let prefix = "connect/acme/ChatTranscripts";
    let stack = Stack::with_sim(connect_sim::SimConfig {
        transcript_after_end: matches!(mode, AfterEnd::TokenReads),
        transcript_archive: Some(
            connect_sim::archive::ArchiveTarget::parse(
                &emulators::moto(),
                &format!("s3://{bucket}/{prefix}"),
            )
            .unwrap(),
        ),
        ..connect_sim::SimConfig::default()
    })
    .await;
    let location = format!("s3://{bucket}/{prefix}");
    let moto = emulators::moto();
    let mut env: Vec<(&str, &str)> = FAST_LEASES.to_vec();
    env.extend([
        ("BRIDGE_CLOSING_TEXT", "Thanks, this chat has ended."),
        ("BRIDGE_RELAY_TRANSCRIPT_WAIT_SECS", "60"),
    ]);
    if matches!(mode, AfterEnd::OnlyTheArchive) {
        env.extend([
            ("BRIDGE_RELAY_TRANSCRIPT_S3", location.as_str()),
            ("AWS_ENDPOINT_URL_S3", moto.as_str()),
        ]);
    }
    let relay = RelayProcess::spawn(&stack, &env).await;
    relay.wait_ready(&stack.http).await;
    let phone = customer_number();
    let session = stack.start_session(&phone, "is my refund through?").await;
    let contact = session.contact_id().unwrap().clone();
    stack.agent_says(&contact, "let me check").await;
    assert_eq!(stack.wait_sms(&phone, 1).await, ["let me check"]);

    // WHEN the relay is killed, and meanwhile the agent answers twice and ends the chat
    relay.kill9().await;
    stack.agent_says(&contact, "refund done").await;
    stack
        .agent_says(&contact, "anything else? closing now")
        .await;
    stack.agent_ends(&contact).await;

    // THEN a restarted relay delivers both replies and the closing text, once, in order
    let restarted = RelayProcess::spawn(&stack, &env).await;
    let expected = [
        "let me check",
        "refund done",
        "anything else? closing now",
        "Thanks, this chat has ended.",
    ];
    let sent = stack.wait_sms(&phone, expected.len()).await;
    assert_eq!(sent, expected, "{mode:?}");
    // AND nothing more comes, and the session is ended
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        stack.sms_to(&phone).await,
        expected,
        "{mode:?}: no duplicate"
    );
    eventually("the session ended", WAIT, || async {
        (stack.session(&phone).await.status == bridge_core::session::Status::Ended).then_some(())
    })
    .await;
    restarted.assert_logs_leak_nothing(&[stack.session(&phone).await]);
    assert!(restarted.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_ended_while_the_relay_was_down_is_read_with_a_token_that_still_reads() {
    a_chat_ended_while_the_relay_was_down_reaches_the_phone(AfterEnd::TokenReads).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_ended_while_the_relay_was_down_is_read_from_the_transcript_in_s3() {
    a_chat_ended_while_the_relay_was_down_reaches_the_phone(AfterEnd::OnlyTheArchive).await;
}

/// Found by the chaos run (`make chaos`): the relay is down when the agent replies and
/// ends the chat, and the customer texts again before it is back, so their next chat is
/// the session's current one by the time a relay reads it. The old chat's reply and
/// closing text still reach the phone, once, before anything of the new chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_that_ended_unseen_is_delivered_even_after_the_customer_started_the_next() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // GIVEN connect-sim writing ended chats' transcripts to moto's S3, and a relay that
    // reads them, holding a live chat
    let bucket = fresh::name("transcripts");
    let location = format!("s3://{bucket}/connect/acme/ChatTranscripts");
    let moto = emulators::moto();
    let stack = Stack::with_sim(connect_sim::SimConfig {
        transcript_archive: Some(
            connect_sim::archive::ArchiveTarget::parse(&moto, &location).unwrap(),
        ),
        ..connect_sim::SimConfig::default()
    })
    .await;
    let mut env: Vec<(&str, &str)> = FAST_LEASES.to_vec();
    env.extend([
        ("BRIDGE_CLOSING_TEXT", "Thanks, this chat has ended."),
        ("BRIDGE_RELAY_TRANSCRIPT_WAIT_SECS", "60"),
        ("BRIDGE_RELAY_TRANSCRIPT_S3", location.as_str()),
        ("AWS_ENDPOINT_URL_S3", moto.as_str()),
    ]);
    let relay = RelayProcess::spawn(&stack, &env).await;
    relay.wait_ready(&stack.http).await;
    let phone = customer_number();
    let first = stack.start_session(&phone, "is my refund through?").await;
    let old = first.contact_id().unwrap().clone();
    stack.agent_says(&old, "let me check").await;
    assert_eq!(stack.wait_sms(&phone, 1).await, ["let me check"]);

    // WHEN the relay is killed; the agent answers and ends the chat; and the customer
    // texts again, which starts their next chat
    relay.kill9().await;
    stack.agent_says(&old, "refund done, bye").await;
    stack.agent_ends(&old).await;
    stack.session(&phone).await;
    let next = stack.start_session(&phone, "one more thing").await;
    let new = next.contact_id().unwrap().clone();
    assert_ne!(new, old);
    stack.agent_says(&new, "hello again").await;

    // THEN a restarted relay delivers the old chat's reply and closing text, then the new
    // chat's reply: once each, in that order
    let restarted = RelayProcess::spawn(&stack, &env).await;
    let expected = [
        "let me check",
        "refund done, bye",
        "Thanks, this chat has ended.",
        "hello again",
    ];
    assert_eq!(stack.wait_sms(&phone, expected.len()).await, expected);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.sms_to(&phone).await, expected, "no duplicate");
    // AND the new chat goes on as usual
    stack.agent_says(&new, "anything else?").await;
    assert_eq!(
        stack
            .wait_sms(&phone, expected.len() + 1)
            .await
            .last()
            .unwrap(),
        "anything else?"
    );
    restarted.assert_logs_leak_nothing(&[stack.session(&phone).await]);
    assert!(restarted.terminate().await.success());
}

/// Acceptance for issue 12, item 2: relay A's DynamoDB degrades so its lease renewals hang
/// (its cursor writes and SNS still work), so its lease manager only learns it lost its
/// shards when the calls time out, well after the leases lapsed, and its discovery later
/// still; B takes the lapsed shards. A must stop sending before B starts: at most one
/// duplicate per session, nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_cut_off_from_dynamodb_stops_sending_before_another_takes_over() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // GIVEN four live chats, then relay A, whose DynamoDB goes through a fault proxy and
    // whose discovery (which stops the workers of lost shards) looks only every 30 s,
    // holding them
    let stack = Stack::with_shards(8).await;
    let mut chats: Vec<(PhoneNumber, ContactId)> = Vec::new();
    for _ in 0..4 {
        let phone = customer_number();
        let session = stack.start_session(&phone, "hi").await;
        chats.push((phone, session.contact_id().unwrap().clone()));
    }
    let proxy = bridge_testkit::FaultProxy::start(&emulators::moto())
        .await
        .unwrap();
    let proxy_url = proxy.url();
    let mut a_env: Vec<(&str, &str)> = FAST_LEASES.to_vec();
    a_env.extend([
        ("AWS_ENDPOINT_URL_DYNAMODB", proxy_url.as_str()),
        ("BRIDGE_RELAY_DISCOVERY_MS", "30000"),
        ("BRIDGE_RELAY_CALL_TIMEOUT_MS", "10000"),
    ]);
    let a = RelayProcess::spawn(&stack, &a_env).await;
    eventually("A holds every socket", WAIT, || async {
        (a.metric(&stack.http, "relay_sockets_open").await == Some(4.0)).then_some(())
    })
    .await;

    // WHEN A's lease calls hang (its cursor writes and SNS still work), B starts, and
    // agents keep replying in every chat
    proxy.add(
        bridge_testkit::Rule::all(bridge_testkit::Fault::BlackHole).when_body_contains("LEASE#"),
    );
    let b = RelayProcess::spawn(&stack, &FAST_LEASES).await;
    let replies = 40;
    let agent = tokio::spawn({
        let control = stack.control.clone();
        let contacts: Vec<ContactId> = chats.iter().map(|(_, c)| c.clone()).collect();
        async move {
            for n in 1..=replies {
                for contact in &contacts {
                    control
                        .say(contact.as_str(), &format!("reply {n:02}"))
                        .await
                        .unwrap();
                }
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        }
    });
    agent.await.unwrap();

    // THEN every reply reaches every phone, in order, with at most one duplicate each
    let expected: Vec<String> = (1..=replies).map(|n| format!("reply {n:02}")).collect();
    for (phone, _) in &chats {
        let sent = poll_every(SMS_POLL, "every reply", WAIT, || async {
            let sent = stack.sms_to(phone).await;
            let (distinct, _) = collapse_repeats(&sent);
            (distinct.len() >= expected.len()).then_some(sent)
        })
        .await;
        let (distinct, repeats) = collapse_repeats(&sent);
        assert_eq!(distinct, expected, "in order, none lost");
        assert!(repeats <= 1, "at most one duplicate per session: {sent:?}");
    }
    // AND A refused to send once its lease was no longer safe (it was still streaming)
    let fenced = metric_value(
        &a.metrics(&stack.http).await,
        "relay_errors_total",
        "lease_fenced",
    );
    eprintln!("A refused {fenced} sends past its lease; B took over");
    assert!(
        fenced >= 1.0,
        "A never had to refuse a send: the test did not reach the hole"
    );
    let mut sessions = Vec::new();
    for (phone, _) in &chats {
        sessions.push(stack.session(phone).await);
    }
    a.assert_logs_leak_nothing(&sessions);
    b.assert_logs_leak_nothing(&sessions);
    proxy.clear();
    a.kill9().await;
    assert!(b.terminate().await.success());
}

/// The value of `name{kind="<kind>"}` in a Prometheus text page (0 when absent).
fn metric_value(page: &str, name: &str, kind: &str) -> f64 {
    page.lines()
        .find(|line| line.starts_with(&format!("{name}{{kind=\"{kind}\"}}")))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// Acceptance for issue 12, item 3: SNS refuses the relay for the account
/// (AuthorizationError) for a while; every reply arrives, in order, once it clears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_held_through_an_sns_authorization_error_all_arrive_after_it_clears() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // GIVEN the relay publishing through a fault proxy, holding a live chat
    let stack = Stack::with_shards(8).await;
    let proxy = bridge_testkit::FaultProxy::start(&emulators::moto())
        .await
        .unwrap();
    let proxy_url = proxy.url();
    let mut env: Vec<(&str, &str)> = FAST_LEASES.to_vec();
    env.push(("AWS_ENDPOINT_URL_SNS", proxy_url.as_str()));
    let (relay, phone, contact) = relay_holding_a_chat(&stack, &env).await;

    // WHEN SNS answers AuthorizationError for 8 s while the agent replies three times
    let outage = Duration::from_secs(8);
    proxy.add(
        bridge_testkit::Rule::on("SNS.Publish", bridge_testkit::Fault::authorization_error())
            .for_duration(outage),
    );
    let started = Instant::now();
    for reply in ["one", "two", "three"] {
        stack.agent_says(&contact, reply).await;
    }

    // THEN all three arrive after it clears, in order, once, none dropped
    let sent = stack.wait_sms(&phone, 3).await;
    assert_eq!(sent, ["one", "two", "three"]);
    assert!(
        started.elapsed() >= outage - Duration::from_secs(1),
        "held through the outage"
    );
    let page = relay.metrics(&stack.http).await;
    let held = page
        .lines()
        .find(|line| line.starts_with("relay_sms_held_total{reason=\"refused\"}"))
        .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(held >= 1.0, "{page}");
    assert!(
        !page.contains("relay_messages_dropped_total{reason=\"rejected\"} 1"),
        "{page}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(stack.sms_to(&phone).await.len(), 3, "no duplicate");
    // AND the ERROR lines of the refusal leak no number and no token
    relay.assert_logs_leak_nothing(&[stack.session(&phone).await]);
    assert!(relay.terminate().await.success());
}

/// The relay binary started with `env`, holding the socket of one chat it was handed.
async fn relay_holding_a_chat(
    stack: &Stack,
    env: &[(&str, &str)],
) -> (RelayProcess, PhoneNumber, ContactId) {
    let relay = RelayProcess::spawn(stack, env).await;
    relay.wait_ready(&stack.http).await;
    let phone = customer_number();
    let session = stack.start_session(&phone, "hi").await;
    let contact = session.contact_id().unwrap().clone();
    eventually("socket open", WAIT, || async {
        (relay.metric(&stack.http, "relay_sockets_open").await == Some(1.0)).then_some(())
    })
    .await;
    (relay, phone, contact)
}

fn tls_sim() -> connect_sim::SimConfig {
    connect_sim::SimConfig {
        concurrent_chat_limit: None,
        tls: Some(connect_sim::tls::SimTls::generate().expect("certificates")),
        ..connect_sim::SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_as_connect_serves_it_the_binary_relays_through_https_and_wss() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // GIVEN connect-sim serving HTTPS and WSS with a CA of its own, which the relay is told
    // to trust
    let stack = Stack::with_sim(tls_sim()).await;
    assert!(stack.sim.base_url().starts_with("https://"));

    // WHEN a chat starts and the agent replies
    let (relay, phone, contact) = relay_holding_a_chat(&stack, &FAST_LEASES).await;
    stack.agent_says(&contact, "over TLS").await;

    // THEN the reply reaches the phone: CreateParticipantConnection over HTTPS, the socket
    // over wss:// (the only scheme the sim hands out when serving TLS)
    assert_eq!(stack.wait_sms(&phone, 1).await, ["over TLS"]);
    let stats = stack.control.stats().await.unwrap();
    assert_eq!(stats["SocketsOpen"], 1, "{stats:?}");
    relay.assert_logs_leak_nothing(&[stack.session(&phone).await]);
    assert!(relay.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_relay_without_the_ca_holds_no_socket() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // GIVEN connect-sim serving TLS, and a relay that is not told about its CA
    let stack = Stack::with_sim(tls_sim()).await;
    let mut env: Vec<(&str, &str)> = FAST_LEASES.to_vec();
    env.push(("BRIDGE_RELAY_EXTRA_CA_FILE", ""));
    let relay = RelayProcess::spawn(&stack, &env).await;
    relay.wait_ready(&stack.http).await;

    // WHEN a chat starts
    let phone = customer_number();
    let session = stack.start_session(&phone, "hi").await;
    let contact = session.contact_id().unwrap().clone();

    // THEN the relay's connection set-up fails on the certificate and no socket opens: the
    // extra CA is what made the other test work, not a verifier that accepts anything
    eventually("a refused connection", WAIT, || async {
        let page = relay.metrics(&stack.http).await;
        (metric_value(&page, "relay_errors_total", "connection") >= 1.0).then_some(())
    })
    .await;
    assert_eq!(
        relay.metric(&stack.http, "relay_sockets_open").await,
        Some(0.0)
    );
    stack.agent_says(&contact, "unheard").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(stack.sms_to(&phone).await.is_empty());
    assert_eq!(stack.control.stats().await.unwrap()["SocketsOpen"], 0);
    assert!(relay.terminate().await.success());
}
