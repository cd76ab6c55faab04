#![allow(clippy::unwrap_used, clippy::expect_used)]
//! GetTranscript paging through the real SDK: both directions with NextToken, StartPosition
//! variants, `StartPosition: {}` as chatjs sends it, MaxResults bounds.

mod common;

use aws_sdk_connectparticipant::types::{ScanDirection, SortKey, StartPosition};
use common::Harness;
use serde_json::json;

/// A connected chat holding the customer join plus messages m0..m{n-1}: (contact, token).
async fn chat_with_messages(h: &Harness, n: usize) -> (String, String) {
    let (contact, _, token) = h.connected_chat("Ann").await;
    for i in 0..n {
        h.participant
            .send_message()
            .connection_token(&token)
            .content_type("text/plain")
            .content(format!("m{i}"))
            .send()
            .await
            .expect("sent");
    }
    (contact, token)
}

fn texts(items: &[aws_sdk_connectparticipant::types::Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| i.content().unwrap_or("<event>").to_owned())
        .collect()
}

#[tokio::test]
async fn backward_paging_walks_from_newest_to_oldest() {
    let h = Harness::start().await;
    let (_, token) = chat_with_messages(&h, 7).await;
    let mut pages = Vec::new();
    let mut next = None;
    loop {
        let page = h
            .participant
            .get_transcript()
            .connection_token(&token)
            .max_results(3)
            .scan_direction(ScanDirection::Backward)
            .sort_order(SortKey::Descending)
            .set_next_token(next.clone())
            .send()
            .await
            .expect("page");
        pages.push(texts(page.transcript()));
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    assert_eq!(
        pages,
        [
            vec!["m6", "m5", "m4"],
            vec!["m3", "m2", "m1"],
            vec!["m0", "<event>"],
        ]
    );
}

#[tokio::test]
async fn forward_paging_from_a_start_id_is_inclusive_and_ascending() {
    let h = Harness::start().await;
    let (contact, token) = chat_with_messages(&h, 6).await;
    let all = h.transcript(&contact).await;
    let m1 = all.iter().find(|i| i["Content"] == "m1").unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .start_position(StartPosition::builder().id(&m1).build())
        .max_results(2)
        .sort_order(SortKey::Ascending)
        .send()
        .await
        .expect("page");
    assert_eq!(texts(first.transcript()), ["m1", "m2"]);
    let second = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .next_token(first.next_token().expect("more"))
        .max_results(10)
        .sort_order(SortKey::Ascending)
        .send()
        .await
        .expect("page");
    assert_eq!(texts(second.transcript()), ["m3", "m4", "m5"]);
    assert!(second.next_token().is_none());
}

#[tokio::test]
async fn most_recent_and_absolute_time_start_positions() {
    let h = Harness::start().await;
    let (contact, token) = chat_with_messages(&h, 4).await;
    let recent = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .start_position(StartPosition::builder().most_recent(2).build())
        .sort_order(SortKey::Ascending)
        .send()
        .await
        .expect("page");
    assert_eq!(texts(recent.transcript()), ["m2", "m3"]);
    let all = h.transcript(&contact).await;
    let m2_time = all.iter().find(|i| i["Content"] == "m2").unwrap()["AbsoluteTime"]
        .as_str()
        .unwrap()
        .to_owned();
    let since = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .start_position(StartPosition::builder().absolute_time(&m2_time).build())
        .sort_order(SortKey::Ascending)
        .send()
        .await
        .expect("page");
    // Items may share a millisecond, so check the rule itself: every returned item is at or
    // after the start time, and the newest ones are there.
    let got = texts(since.transcript());
    assert!(
        got.ends_with(&["m2".to_owned(), "m3".to_owned()]),
        "{got:?}"
    );
    assert!(
        since
            .transcript()
            .iter()
            .all(|i| i.absolute_time().unwrap() >= m2_time.as_str()),
        "{got:?}"
    );
}

#[tokio::test]
async fn empty_start_position_is_treated_as_none() {
    let h = Harness::start().await;
    let (_, token) = chat_with_messages(&h, 3).await;
    // Through the SDK: an empty StartPosition structure serialises as `{}`.
    let page = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .start_position(StartPosition::builder().build())
        .scan_direction(ScanDirection::Backward)
        .sort_order(SortKey::Ascending)
        .max_results(2)
        .send()
        .await
        .expect("page");
    assert_eq!(texts(page.transcript()), ["m1", "m2"]);
    // Exactly as chatjs sends it (lower-case header, default chatjs parameters).
    let response = h
        .http
        .post(h.url("/participant/transcript"))
        .header("x-amz-bearer", &token)
        .json(&json!({"StartPosition": {}, "ScanDirection": "BACKWARD", "SortOrder": "ASCENDING", "MaxResults": 15}))
        .send()
        .await
        .expect("reachable");
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    let contents: Vec<&str> = body["Transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["Content"].as_str())
        .collect();
    assert_eq!(contents, ["m0", "m1", "m2"]);
    assert!(body.get("NextToken").is_none());
}

#[tokio::test]
async fn default_page_is_ten_newest_descending() {
    let h = Harness::start().await;
    let (_, token) = chat_with_messages(&h, 12).await;
    let page = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .send()
        .await
        .expect("page");
    let got = texts(page.transcript());
    assert_eq!(got.len(), 10);
    assert_eq!(got[0], "m11");
    assert_eq!(got[9], "m2");
    assert!(page.next_token().is_some());
}

#[tokio::test]
async fn bad_paging_parameters_are_validation_errors() {
    let h = Harness::start().await;
    let (_, token) = chat_with_messages(&h, 1).await;
    let too_many = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .max_results(101)
        .send()
        .await
        .expect_err("over 100");
    assert!(too_many.into_service_error().is_validation_exception());
    let bad_token = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .next_token("garbage")
        .send()
        .await
        .expect_err("bad token");
    assert!(bad_token.into_service_error().is_validation_exception());
    let unknown_id = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .start_position(StartPosition::builder().id("nope").build())
        .send()
        .await
        .expect_err("unknown id");
    assert!(unknown_id.into_service_error().is_validation_exception());
    let max_zero = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .max_results(0)
        .send()
        .await
        .expect("0 means the default");
    assert_eq!(max_zero.transcript().len(), 2);
}

/// Ends `contact` from the agent's side.
async fn end(h: &Harness, contact: &str) {
    let (status, _) = h
        .sim_post(&format!("/sim/contacts/{contact}/end"), json!({}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_ended_chats_transcript_is_refused_by_default() {
    // GIVEN a chat with messages that the agent ended
    let h = Harness::start().await;
    let (contact, token) = chat_with_messages(&h, 2).await;
    end(&h, &contact).await;
    // WHEN its still unexpired connection token asks for the transcript
    let error = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .send()
        .await
        .expect_err("refused");
    // THEN 403, as chatjs's maintainers report of the real service
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(403));
}

#[tokio::test]
async fn with_transcript_after_end_an_ended_chat_is_still_readable() {
    // GIVEN the switch on, and a chat with messages that the agent ended
    let h = Harness::with(connect_sim::SimConfig {
        transcript_after_end: true,
        ..connect_sim::SimConfig::default()
    })
    .await;
    let (contact, token) = chat_with_messages(&h, 2).await;
    end(&h, &contact).await;
    // WHEN its unexpired connection token asks for the transcript, oldest first
    let page = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .scan_direction(ScanDirection::Forward)
        .sort_order(SortKey::Ascending)
        .max_results(100)
        .send()
        .await
        .expect("readable");
    // THEN every item is there, the chat's end last
    let items = page.transcript();
    let messages: Vec<String> = texts(items)
        .into_iter()
        .filter(|text| text.starts_with('m'))
        .collect();
    assert_eq!(messages, ["m0", "m1"]);
    assert_eq!(
        items.last().and_then(|item| item.content_type()),
        Some("application/vnd.amazonaws.connect.event.chat.ended")
    );
    // AND sending is still refused: only reading outlives the chat
    let error = h
        .participant
        .send_message()
        .connection_token(&token)
        .content_type("text/plain")
        .content("late")
        .send()
        .await
        .expect_err("refused");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(403));
}

#[tokio::test]
async fn an_ended_chats_transcript_is_written_to_s3_in_connects_layout() {
    // GIVEN an S3 endpoint that records what is PUT (a local peer speaking S3's REST
    // path-style PUT), and the sim writing transcripts there
    let (s3, puts) = recording_s3().await;
    let h = Harness::with(connect_sim::SimConfig {
        transcript_archive: Some(
            connect_sim::archive::ArchiveTarget::parse(
                &s3,
                "s3://transcripts/connect/acme/ChatTranscripts",
            )
            .unwrap(),
        ),
        ..connect_sim::SimConfig::default()
    })
    .await;
    let (contact, _) = chat_with_messages(&h, 2).await;
    // WHEN the chat ends
    end(&h, &contact).await;
    // THEN the bucket is created and the transcript written under the layout, with
    // GetTranscript's item shape
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let (path, body) = loop {
        if let Some(found) = puts
            .lock()
            .unwrap()
            .iter()
            .find(|(path, _)| path.contains("ChatTranscripts"))
            .cloned()
        {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no transcript written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        puts.lock()
            .unwrap()
            .iter()
            .any(|(path, _)| path == "/transcripts")
    );
    assert!(
        path.starts_with("/transcripts/connect/acme/ChatTranscripts/"),
        "{path}"
    );
    let file = path.rsplit('/').next().unwrap();
    assert!(file.starts_with(&format!("{contact}_")), "{file}");
    assert!(file.ends_with("_UTC.json"), "{file}");
    let document: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(document["ContactId"], contact.as_str());
    assert_eq!(document["InitialContactId"], contact.as_str());
    assert_eq!(document["Version"], "2019-08-26");
    let transcript = document["Transcript"].as_array().unwrap();
    let contents: Vec<&str> = transcript
        .iter()
        .filter_map(|item| item["Content"].as_str())
        .collect();
    assert_eq!(contents, ["m0", "m1"]);
    assert_eq!(
        transcript.last().unwrap()["ContentType"],
        "application/vnd.amazonaws.connect.event.chat.ended"
    );
    assert!(transcript.iter().all(|item| item["Id"].is_string()));
}

/// What the S3 peer received: (path, body) per request.
type Recorded = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A minimal S3 peer: answers every PUT with 200 and records (path, body).
async fn recording_s3() -> (String, Recorded) {
    use axum::extract::{Request, State};
    let puts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .fallback(
            |State(puts): State<Recorded>, request: Request| async move {
                let path = request.uri().path().to_owned();
                let body = axum::body::to_bytes(request.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                puts.lock()
                    .unwrap()
                    .push((path, String::from_utf8_lossy(&body).into_owned()));
                ""
            },
        )
        .with_state(puts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), puts)
}
