//! The inbound handler's log lines, captured in memory: ids and masked numbers on every
//! line, never a token, a full number or a body.
//!
//! A test binary of its own: tracing's per-thread default subscriber is not reliable while
//! other tests of the same process register callsites on other threads at the same time.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unused_imports)]

include!("support/world.rs");

use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------

/// Held by each test: a per-thread default subscriber is not reliable while another
/// thread registers callsites (see the top of this file), so these tests run one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Log lines written by the handler, captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
#[allow(clippy::await_holding_lock)] // a current-thread runtime: nothing else waits on it
async fn logs_carry_ids_and_masked_numbers_but_never_tokens_numbers_or_bodies() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let captured = Captured::default();
    let config = bridge_inbound::config::LogConfig {
        filter: "trace".to_owned(),
        format: bridge_inbound::config::LogFormat::Json,
    };
    let writer = captured.clone();
    let _guard =
        tracing::subscriber::set_default(bridge_inbound::logging::subscriber(&config, move || {
            writer.clone()
        }));
    let world = World::new();
    let customer = "+15550101060";
    let (contact_id, _) = delivered(&world.text(customer, "first secret body").await.unwrap());
    world.chat.end_contact(&contact_id);
    world.text(customer, "second secret body").await.unwrap();
    world.text(customer, "STOP").await.unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .all(|line| line["level"].is_string() && line["message"].is_string())
    );
    let handled: Vec<_> = lines
        .iter()
        .filter(|line| line["message"] == "sms handled")
        .collect();
    assert_eq!(handled.len(), 3);
    for line in &handled {
        assert_eq!(line["span"]["phone"], "+1******1060");
        assert_eq!(line["span"]["support"], "+1******0100");
        assert!(line["span"]["sms_id"].as_str().unwrap().starts_with("msg-"));
    }
    assert_eq!(handled[0]["span"]["contact_id"], contact_id.as_str());
    assert!(
        !logs.contains("15550101060"),
        "a full phone number was logged"
    );
    assert!(!logs.contains("secret body"), "a message body was logged");
    assert!(
        !logs.contains("ptoken") && !logs.contains("ctoken"),
        "a token was logged"
    );
}

/// What `filter` lets through of an info and a warn line, and of a debug line inside an
/// `sms` span, in text format.
fn lines_through(filter: &str) -> String {
    let captured = Captured::default();
    let config = bridge_inbound::config::LogConfig {
        filter: filter.to_owned(),
        format: bridge_inbound::config::LogFormat::Text,
    };
    let writer = captured.clone();
    let subscriber = bridge_inbound::logging::subscriber(&config, move || writer.clone());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("plain info");
        tracing::warn!("plain warn");
        tracing::info_span!("sms").in_scope(|| tracing::debug!("debug in sms"));
    });
    String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn level_filters_and_span_filters_both_apply() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Plain directives, as AWS_LAMBDA_LOG_LEVEL gives (the fast filter).
    let logs = lines_through("warn,bridge_inbound=warn");
    assert!(logs.contains("plain warn"), "{logs}");
    assert!(!logs.contains("plain info"), "{logs}");
    assert!(!logs.contains("debug in sms"), "{logs}");
    // A span directive only the full filter reads (RUST_LOG-style).
    let logs = lines_through("warn,[sms]=debug");
    assert!(logs.contains("plain warn"), "{logs}");
    assert!(!logs.contains("plain info"), "{logs}");
    assert!(logs.contains("debug in sms"), "{logs}");
}
