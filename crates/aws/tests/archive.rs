//! The transcript archive adapter against moto's S3, through the real SDK client: a
//! transcript Connect wrote (as `connect-sim --transcript-s3` writes it, in Connect's
//! layout) is found by contact id and read back as transcript items.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_s3::primitives::ByteStream;
use bridge_aws::{S3Transcripts, TranscriptLocation};
use bridge_core::ids::ContactId;
use bridge_core::ports::{Role, TranscriptArchive};
use bridge_testkit::emulators::{client_settings, moto};
use bridge_testkit::{emulator_config, fresh};
use chrono::{TimeDelta, Utc};

const PREFIX: &str = "connect/acme/ChatTranscripts";

async fn bucket(client: &aws_sdk_s3::Client) -> String {
    let bucket = fresh::name("transcripts");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    bucket
}

fn raw_client(shared: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(shared)
            .force_path_style(true)
            .build(),
    )
}

#[tokio::test]
async fn a_transcript_is_found_by_contact_under_the_day_it_ended_and_read_back() {
    // GIVEN a chat that started yesterday and whose transcript was written today, beside
    // another contact's
    let shared = emulator_config(&moto());
    let raw = raw_client(&shared);
    let bucket = bucket(&raw).await;
    let contact = format!("c-{}", fresh::name("archive"));
    let today = Utc::now();
    let started = today - TimeDelta::days(1);
    let document = serde_json::json!({
        "Version": "2019-08-26",
        "ContactId": contact,
        "Transcript": [
            {"Id": "i-1", "Type": "MESSAGE", "ContentType": "text/plain", "Content": "hi",
             "ParticipantRole": "CUSTOMER", "AbsoluteTime": "2026-12-04T10:00:00.000Z"},
            {"Id": "i-2", "Type": "MESSAGE", "ContentType": "text/plain", "Content": "refund done",
             "ParticipantRole": "AGENT", "AbsoluteTime": "2026-12-04T10:00:01.000Z"},
            {"Id": "i-3", "Type": "EVENT",
             "ContentType": "application/vnd.amazonaws.connect.event.chat.ended",
             "ParticipantRole": "SYSTEM", "AbsoluteTime": "2026-12-04T10:00:02.000Z"}
        ]
    });
    for (who, body) in [
        (contact.clone(), document.to_string()),
        (
            format!("{contact}-other"),
            r#"{"Transcript":[]}"#.to_owned(),
        ),
    ] {
        let key = format!(
            "{PREFIX}/{}/{who}_{}_UTC.json",
            today.format("%Y/%m/%d"),
            today.format("%Y%m%dT%H:%M")
        );
        raw.put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await
            .unwrap();
    }
    let archive = S3Transcripts::new(
        &shared,
        &client_settings(),
        TranscriptLocation::parse(&format!("s3://{bucket}/{PREFIX}")).unwrap(),
    );

    // WHEN the relay asks for the contact's transcript
    let items = archive
        .transcript(&ContactId::new(&contact).unwrap(), started)
        .await
        .unwrap()
        .expect("found");

    // THEN its items come back, oldest first, with roles and content types
    let ids: Vec<&str> = items.iter().map(|item| item.id.as_str()).collect();
    assert_eq!(ids, ["i-1", "i-2", "i-3"]);
    assert_eq!(items[1].role, Some(Role::Agent));
    assert_eq!(items[1].content.as_deref(), Some("refund done"));
    assert!(items[2].content_type.ends_with("chat.ended"));
}

#[tokio::test]
async fn a_transcript_not_written_yet_is_none() {
    let shared = emulator_config(&moto());
    let bucket = bucket(&raw_client(&shared)).await;
    let archive = S3Transcripts::new(
        &shared,
        &client_settings(),
        TranscriptLocation::parse(&format!("s3://{bucket}/{PREFIX}")).unwrap(),
    );
    let found = archive
        .transcript(&ContactId::new("c-absent").unwrap(), Utc::now())
        .await
        .unwrap();
    assert!(found.is_none());
}

#[tokio::test]
async fn a_missing_bucket_is_an_error_not_an_empty_archive() {
    let shared = emulator_config(&moto());
    let archive = S3Transcripts::new(
        &shared,
        &client_settings(),
        TranscriptLocation::parse("s3://no-such-bucket-for-the-bridge/x").unwrap(),
    );
    let error = archive
        .transcript(&ContactId::new("c-1").unwrap(), Utc::now())
        .await
        .unwrap_err();
    assert!(!error.is_retriable(), "{error:?}");
}
