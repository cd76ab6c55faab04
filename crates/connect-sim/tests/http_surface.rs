#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The HTTP surface outside the operations themselves: CORS for chatjs in browsers, ignored
//! SigV4 headers, request ids, the console page, unimplemented operations, and the binary's
//! address line that scripts read.

mod common;

use std::process::Stdio;

use common::Harness;
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader};

#[tokio::test]
async fn cors_preflight_allows_the_chatjs_headers() {
    let h = Harness::start().await;
    let response = h
        .http
        .request(reqwest::Method::OPTIONS, h.url("/participant/message"))
        .header("Origin", "http://localhost:3000")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type,x-amz-bearer,x-amz-user-agent,amz-sdk-invocation-id",
        )
        .send()
        .await
        .expect("preflight");
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for header in ["x-amz-bearer", "content-type", "amz-sdk-invocation-id"] {
        assert!(allowed.contains(header), "{allowed}");
    }
}

#[tokio::test]
async fn sigv4_headers_are_ignored_and_bearer_is_case_insensitive() {
    let h = Harness::start().await;
    let (_, _, token) = h.connected_chat("Ann").await;
    let response = h
        .http
        .post(h.url("/participant/message"))
        .header("x-amz-bearer", &token)
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=/20240101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=00",
        )
        .header("X-Amz-Date", "20240101T000000Z")
        .header("X-Amz-Security-Token", "whatever")
        .json(&json!({"ContentType": "text/plain", "Content": "signed with nonsense"}))
        .send()
        .await
        .expect("reachable");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().contains_key("x-amzn-requestid"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["Id"].is_string() && body["AbsoluteTime"].is_string());
}

#[tokio::test]
async fn empty_outputs_are_an_empty_json_object() {
    let h = Harness::start().await;
    let (_, _, token) = h.connected_chat("Ann").await;
    let response = h
        .http
        .post(h.url("/participant/disconnect"))
        .header("X-Amz-Bearer", &token)
        .send()
        .await
        .expect("reachable");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.text().await.unwrap(), "{}");
}

#[tokio::test]
async fn unimplemented_operations_say_so() {
    let h = Harness::start().await;
    let response = h
        .http
        .post(h.url("/contact/start-streaming"))
        .json(&json!({}))
        .send()
        .await
        .expect("reachable");
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "InvalidRequestException"
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("not implemented"), "{text}");
}

#[tokio::test]
async fn start_chat_can_return_the_connection_directly() {
    // Newer Connect models let StartChatContact return the customer's connection.
    let h = Harness::start().await;
    let response: serde_json::Value = h
        .http
        .put(h.url("/contact/chat"))
        .json(&json!({
            "InstanceId": "i", "ContactFlowId": "f",
            "ParticipantDetails": {"DisplayName": "Ann"},
            "ConnectionTypes": ["WEBSOCKET", "CONNECTION_CREDENTIALS"],
        }))
        .send()
        .await
        .expect("reachable")
        .json()
        .await
        .unwrap();
    let url = response["Websocket"]["Url"].as_str().expect("url");
    let token = response["ConnectionCredentials"]["ConnectionToken"]
        .as_str()
        .expect("token");
    let contact = response["ContactId"].as_str().unwrap();
    assert_eq!(h.contact(contact).await["Status"], "CONNECTED");
    let mut socket = common::Socket::subscribed(url).await;
    h.participant
        .send_message()
        .connection_token(token)
        .content_type("text/plain")
        .content("direct")
        .send()
        .await
        .expect("token works");
    assert_eq!(socket.item_of_type("text/plain").await["Content"], "direct");
}

#[tokio::test]
async fn console_page_is_served_at_the_root() {
    let h = Harness::start().await;
    let response = h.http.get(h.url("/")).send().await.expect("reachable");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("id=\"contacts\""));
}

#[tokio::test]
async fn binary_prints_its_address_and_serves() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_connect-sim"))
        .args(["--port", "0", "--customer-connect-timeout-secs", "0.5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(common::WAIT, lines.next_line())
        .await
        .expect("address line in time")
        .expect("stdout readable")
        .expect("a line");
    let url = line
        .strip_prefix("connect-sim listening on ")
        .expect("address line format");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let contacts: serde_json::Value = reqwest::get(format!("{url}/sim/contacts"))
        .await
        .expect("serves")
        .json()
        .await
        .unwrap();
    assert_eq!(contacts, json!([]));
    child.kill().await.expect("stops");
}
