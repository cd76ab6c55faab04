//! `bridge replay --target sns:<topic-arn>` and `--target lambda:<function>`, end to end
//! over the wire: SNS Publish to a topic on moto whose HTTP subscription (delivered
//! synchronously by moto) lands in a sink served by the test; Lambda Invoke against a
//! stand-in for the Invoke API (as `cargo lambda watch` serves it) answering like the
//! inbound function.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use bridge_e2e::fixtures_dir;
use bridge_testkit::emulators::moto;
use bridge_testkit::fresh;
use harness::{Stack, http, wait_until};

/// One HTTP request the sink received.
#[derive(Clone, Debug)]
struct Request {
    path: String,
    body: String,
}

/// A one-thread HTTP/1.1 server answering every request with `respond(request)`.
fn sink(
    respond: impl Fn(&Request) -> (u16, String) + Send + 'static,
) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut start = String::new();
            if reader.read_line(&mut start).is_err() {
                continue;
            }
            let path = start
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let request = Request {
                path,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            let (status, answer) = respond(&request);
            log.lock().unwrap().push(request);
            // As the Invoke API flags an error the function returned.
            let function_error = if answer.starts_with(r#"{"errorType""#) {
                "x-amz-function-error: Unhandled\r\n"
            } else {
                ""
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{function_error}content-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, seen)
}

/// An awsQuery call to moto's SNS (moto does not check signatures).
fn sns_call(params: &[(&str, &str)]) -> String {
    http()
        .post(format!("{}/", moto()))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=x",
        )
        .form(params)
        .send()
        .unwrap()
        .text()
        .unwrap()
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    text.split_once(open)
        .unwrap()
        .1
        .split_once(close)
        .unwrap()
        .0
}

#[test]
fn sns_target_publishes_each_payload_to_the_topic() {
    // GIVEN a topic on moto with an HTTP subscription to a sink
    let (sink_url, received) = sink(|_| (200, String::new()));
    let created = sns_call(&[
        ("Action", "CreateTopic"),
        ("Name", &fresh::name("replay-topic")),
    ]);
    let topic_arn = between(&created, "<TopicArn>", "</TopicArn>").to_owned();
    sns_call(&[
        ("Action", "Subscribe"),
        ("TopicArn", &topic_arn),
        ("Protocol", "http"),
        ("Endpoint", &format!("{sink_url}/sns")),
    ]);
    // WHEN the plain fixture (8 lines, 9 texts) is replayed to the topic
    let stack = Stack::new("http://127.0.0.1:9");
    let jsonl = fixtures_dir().join("plain.jsonl");
    let (ok, stdout, stderr) = stack.run_bridge(&[
        "replay",
        jsonl.to_str().unwrap(),
        "--speed",
        "max",
        "--target",
        &format!("sns:{topic_arn}"),
    ]);
    // THEN the replay reports 9 published, and the subscriber got each payload as the
    // notification's Message, as End User Messaging would publish it
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("sent        9: published 9"), "{stdout}");
    let messages = wait_until(
        "9 notifications",
        std::time::Duration::from_secs(10),
        || {
            let seen = received.lock().unwrap().clone();
            (seen.len() >= 9).then_some(seen)
        },
    );
    assert_eq!(messages.len(), 9);
    let mut bodies = Vec::new();
    for request in &messages {
        let notification: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(notification["Type"], "Notification");
        let payload: serde_json::Value =
            serde_json::from_str(notification["Message"].as_str().unwrap()).unwrap();
        assert!(
            payload.get("delay_ms").is_none(),
            "replay keys are stripped: {payload}"
        );
        bodies.push(payload["messageBody"].as_str().unwrap().to_owned());
    }
    assert!(
        bodies
            .iter()
            .any(|b| b.starts_with("Hi, I ordered a blender")),
        "{bodies:?}"
    );
    assert!(
        bodies.contains(&"Ok, I see the refund now.".to_owned()),
        "{bodies:?}"
    );
}

#[test]
fn lambda_target_invokes_the_function_with_sns_events_and_reads_its_summary() {
    // GIVEN a stand-in Invoke API answering like the inbound function: delivered per record
    let (endpoint, received) = sink(|request| {
        let event: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        let records: Vec<_> = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(index, record)| {
                serde_json::json!({
                    "index": index,
                    "sns_message_id": record["Sns"]["MessageId"],
                    "outcome": "delivered",
                    "contact_id": "c-1",
                    "started": index == 0,
                })
            })
            .collect();
        (200, serde_json::json!({ "records": records }).to_string())
    });
    let stack = Stack::new("http://127.0.0.1:9");
    let jsonl = fixtures_dir().join("plain.jsonl");
    let expected = fixtures_dir().join("plain.expected.json");
    // WHEN the plain fixture is replayed to the function, with --expect
    let (ok, stdout, stderr) = stack.run_bridge(&[
        "replay",
        jsonl.to_str().unwrap(),
        "--speed",
        "max",
        "--target",
        "lambda:bridge-inbound",
        "--lambda-endpoint",
        &endpoint,
        "--expect",
        expected.to_str().unwrap(),
    ]);
    // THEN each line was one Invoke of that function with an SNS event, and the
    // function's summary was read back and compared
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("all 9 expected outcomes match"), "{stdout}");
    let requests = received.lock().unwrap().clone();
    assert_eq!(requests.len(), 8);
    for request in &requests {
        assert_eq!(
            request.path,
            "/2015-03-31/functions/bridge-inbound/invocations"
        );
        let event: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(event["Records"][0]["EventSource"], "aws:sns", "{event}");
    }
}

#[test]
fn lambda_target_counts_a_function_error_as_a_failure() {
    // GIVEN a function that fails every invocation (as a retriable handler error would)
    let (endpoint, _) = sink(|_| {
        (
            200,
            r#"{"errorType":"Retriable.Throttled","errorMessage":"throttled"}"#.to_owned(),
        )
    });
    let stack = Stack::new("http://127.0.0.1:9");
    let jsonl = fixtures_dir().join("long.jsonl");
    let output = stack
        .bridge()
        .args(["replay", jsonl.to_str().unwrap(), "--speed", "max"])
        .args([
            "--target",
            "lambda:bridge-inbound",
            "--lambda-endpoint",
            &endpoint,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // THEN the line is a failure and the exit status is 1
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("line 1: failed: the function failed (Unhandled)"),
        "{stdout}"
    );
    assert!(stdout.contains("failures    1"), "{stdout}");
}
