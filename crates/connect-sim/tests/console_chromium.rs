#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The agent console rendered by headless Chromium against a running emulator with one chat.
//!
//! The browser is `$CHROMIUM`, else `$CHROME`, else the first of [`BROWSERS`] on `PATH`
//! (`make test` sets `$CHROMIUM` to the one `scripts/prereqs.sh` finds); when there is none
//! the test fails and points at that script, which says how to install one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use connect_sim::SimConfig;
use serde_json::{Value, json};

const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

/// Browser names tried on `PATH`, in `scripts/prereqs.sh`'s order.
const BROWSERS: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

fn chromium() -> PathBuf {
    for var in ["CHROMIUM", "CHROME"] {
        if let Some(value) = std::env::var_os(var).filter(|value| !value.is_empty()) {
            let command = PathBuf::from(value);
            return executable(&command).unwrap_or_else(|| {
                panic!(
                    "${var} is {}, which is not an executable: point it at a Chromium or \
                     Chrome binary, or run `scripts/prereqs.sh test`",
                    command.display()
                )
            });
        }
    }
    BROWSERS
        .iter()
        .find_map(|name| executable(Path::new(name)))
        .unwrap_or_else(|| {
            panic!(
                "headless Chromium not found ($CHROMIUM and $CHROME unset, none of {} on \
                 PATH): run `scripts/prereqs.sh test`, which says how to install it",
                BROWSERS.join(", ")
            )
        })
}

/// `command` itself when it is a path (has a `/`), else its first match on `PATH`.
fn executable(command: &Path) -> Option<PathBuf> {
    if command.components().count() > 1 {
        return command.is_file().then(|| command.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(command))
        .find(|candidate| candidate.is_file())
}

async fn run_chromium(binary: &Path, profile: &Path, extra: &[String], url: &str) -> String {
    let mut command = tokio::process::Command::new(binary);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .kill_on_drop(true);
    let output = tokio::time::timeout(CHROMIUM_TIMEOUT, command.output())
        .await
        .expect("chromium finished in time")
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 dom")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_lists_the_chat_and_shows_its_transcript() {
    let binary = chromium();
    let sim = connect_sim::spawn(SimConfig::default()).await.expect("sim");
    let http = reqwest::Client::new();
    let started: Value = http
        .put(format!("{}/contact/chat", sim.base_url()))
        .json(&json!({
            "InstanceId": "instance-1",
            "ContactFlowId": "flow-1",
            "ParticipantDetails": {"DisplayName": "Dom Tester"},
            "InitialMessage": {"ContentType": "text/plain", "Content": "Hello from the DOM test"},
        }))
        .send()
        .await
        .expect("start chat")
        .json()
        .await
        .expect("json");
    let contact = started["ContactId"]
        .as_str()
        .expect("contact id")
        .to_owned();
    let profile = tempfile::tempdir().expect("profile dir");

    let dom = run_chromium(
        &binary,
        profile.path(),
        &["--dump-dom".to_owned()],
        &format!("{}/", sim.base_url()),
    )
    .await;
    assert!(
        dom.contains(&format!("data-contact-id=\"{contact}\"")),
        "contact {contact} not in the rendered list:\n{dom}"
    );
    assert!(
        dom.contains("Dom Tester"),
        "customer name not rendered:\n{dom}"
    );
    assert!(
        dom.contains("Hello from the DOM test"),
        "transcript of the chat not rendered:\n{dom}"
    );
    assert!(
        dom.contains("data-status=\"STARTED\""),
        "status not rendered:\n{dom}"
    );

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console.png");
    let _ = std::fs::remove_file(&screenshot);
    run_chromium(
        &binary,
        profile.path(),
        &[
            format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,800".to_owned(),
        ],
        &format!("{}/#contact={contact}", sim.base_url()),
    )
    .await;
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "suspiciously small screenshot: {} bytes",
        png.len()
    );
    sim.shutdown().await.expect("clean shutdown");
}
