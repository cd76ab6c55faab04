//! Both web pages of the demo in headless Chromium: the phone page `bridge demo` serves and
//! connect-sim's agent console, each after a real exchange (a text typed through the phone
//! page's API, an agent reply relayed as SMS). DOM asserted, screenshots saved under
//! `target/`. Then the demo is stopped with SIGTERM, as Ctrl-C would, and must stop every
//! process it started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::process::Command;
use std::time::Duration;

use bridge_testkit::emulators::{dynamodb_local, moto};
use bridge_testkit::fresh;
use harness::{
    agent_says, bin, browse, chromium, contacts, http, outbox, pid_alive, spawn_until, wait_until,
};

/// What the demo printed about itself.
#[derive(Debug, Default)]
struct Urls {
    console: String,
    phone: String,
    pids: Vec<u32>,
}

fn url_after(line: &str, label: &str) -> Option<String> {
    Some(line.trim().strip_prefix(label)?.trim().to_owned())
}

#[test]
fn the_phone_page_and_the_agent_console_show_the_conversation() {
    // Fail fast, before starting anything, when there is no browser.
    chromium();
    // GIVEN a running demo (interactive mode)
    let run_dir = tempfile::tempdir().unwrap();
    let customer = fresh::customer();
    let mut command = Command::new(bin("bridge"));
    command
        .env("BRIDGE_MOTO_ENDPOINT", moto())
        .env("BRIDGE_DYNAMODB", dynamodb_local())
        .env_remove("CI")
        .env_remove("BRIDGE_SUPPORT_LINES")
        .args(["--table", &fresh::name("web"), "demo"])
        .args([
            "--sim-port",
            "0",
            "--phone-port",
            "0",
            "--relay-admin-port",
            "0",
        ])
        .args(["--customer", &customer])
        .arg("--run-dir")
        .arg(run_dir.path());
    let mut urls = Urls::default();
    let (mut demo, urls) = spawn_until("bridge demo", command, move |line| {
        if let Some(url) = url_after(line, "agent console") {
            urls.console = url;
        } else if let Some(url) = url_after(line, "phone page") {
            urls.phone = url;
        } else if let Some((_, rest)) = line.split_once("(pid ") {
            urls.pids.extend(
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse::<u32>(),
            );
        } else if line.starts_with("Ctrl-C stops") {
            return Some(std::mem::take(&mut urls));
        }
        None
    });
    assert_eq!(urls.pids.len(), 2, "{urls:?}");

    // WHEN the customer texts through the phone page's API
    let text = format!("Hello from the phone page, {}", fresh::name("t"));
    let sent: serde_json::Value = http()
        .post(format!("{}api/sms", urls.phone))
        .json(&serde_json::json!({"from": customer, "to": "+18005550100", "body": text}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(sent["outcome"], "delivered", "{sent}");
    assert_eq!(sent["started"], true, "{sent}");
    let contact_id = sent["contact_id"].as_str().unwrap().to_owned();
    // AND the agent answers in the console's chat, and the relay texts it back
    let sim = urls.console.trim_end_matches('/').to_owned();
    assert!(
        contacts(&sim)
            .iter()
            .any(|c| c.contact_id == contact_id && c.customer() == Some(customer.as_str()))
    );
    let reply = "An agent here: how can I help?";
    agent_says(&sim, &contact_id, reply);
    let moto = moto();
    wait_until("the agent's reply as SMS", Duration::from_secs(30), || {
        outbox(&moto)
            .iter()
            .any(|(to, body)| to == &customer && body == reply)
            .then_some(())
    });

    // THEN the phone page shows the customer's text and the reply, as bubbles
    let dom = browse(
        &format!("{}?customer={}", urls.phone, customer.replace('+', "%2B")),
        "phone-page",
    );
    assert!(dom.contains(r#"id="thread""#), "{dom}");
    assert!(dom.contains(r#"data-direction="out""#), "{dom}");
    assert!(dom.contains(r#"data-direction="in""#), "{dom}");
    assert!(
        dom.contains(&text),
        "the customer's text is missing:\n{dom}"
    );
    assert!(dom.contains(reply), "the agent's reply is missing:\n{dom}");
    assert!(
        dom.contains("started chat"),
        "the outcome note is missing:\n{dom}"
    );
    assert!(
        dom.contains(&format!(r#"<span id="me">{customer}</span>"#)),
        "the page does not show whose phone it is:\n{dom}"
    );
    assert!(
        dom.contains(&format!(r#"href="{}""#, urls.console)),
        "{dom}"
    );

    // AND the agent console lists the chat and shows both messages
    let dom = browse(
        &format!("{}#contact={contact_id}", urls.console),
        "agent-console",
    );
    assert!(
        dom.contains(&format!(r#"data-contact-id="{contact_id}""#)),
        "the chat is not listed:\n{dom}"
    );
    assert!(
        dom.contains(&text),
        "the customer's text is missing:\n{dom}"
    );
    assert!(dom.contains(reply), "the agent's reply is missing:\n{dom}");

    // WHEN the demo gets SIGTERM (as from Ctrl-C)
    let status = demo.terminate().unwrap();
    // THEN it exits cleanly and every process it started is gone
    assert!(status.success(), "demo exit status {status}");
    for pid in urls.pids {
        assert!(
            !pid_alive(pid),
            "pid {pid} still running after the demo stopped"
        );
    }
}
