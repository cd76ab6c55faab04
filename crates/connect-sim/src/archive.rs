//! Chat transcripts written to S3 when a chat ends, as Amazon Connect writes them to the
//! instance's "chat transcripts" storage (bucket and prefix are instance settings; the
//! default prefix is `connect/<instance-alias>/ChatTranscripts`).
//!
//! Layout, as Connect's own samples read it (docs/connect-chat.md §10 has the sources and
//! what AWS does not document): one JSON object per contact, at
//! `<prefix>/YYYY/MM/DD/<contactId>_<YYYYMMDD>T<HH:MM>_UTC.json` (the date is the chat's
//! end, UTC), holding `Version`, `AWSAccountId`, `InstanceId`, `InitialContactId`,
//! `ContactId`, `Participants` and `Transcript` (items with GetTranscript's member names).
//! Only the `<contactId>_` prefix of the file name is something readers should rely on.
//!
//! The emulator writes with plain path-style `PUT`s to any S3-compatible endpoint (moto
//! locally), unsigned; it creates the bucket at start. Writes happen after the chat ended,
//! off the request path, so a reader sees the file a moment later, as with Connect (which
//! takes tens of seconds).

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::model::item::Item;

/// Where transcripts go: an S3 endpoint, a bucket and a key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveTarget {
    /// The S3 endpoint (`http://127.0.0.1:5055` for moto).
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// The key prefix, without a trailing `/` (`connect/<alias>/ChatTranscripts`).
    pub prefix: String,
}

impl ArchiveTarget {
    /// Parses `s3://bucket/prefix` for `endpoint`.
    ///
    /// # Errors
    /// When `location` is not `s3://bucket[/prefix]`.
    pub fn parse(endpoint: &str, location: &str) -> Result<Self, String> {
        let rest = location
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{location:?} is not s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{location:?} names no bucket"));
        }
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    fn url(&self, key: &str) -> String {
        format!("{}/{}/{key}", self.endpoint, self.bucket)
    }
}

impl FromStr for ArchiveTarget {
    type Err = String;

    /// `ENDPOINT|s3://bucket/prefix`, for command lines.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (endpoint, location) = value
            .split_once('|')
            .ok_or_else(|| format!("{value:?} is not ENDPOINT|s3://bucket/prefix"))?;
        Self::parse(endpoint, location)
    }
}

/// The object key of `contact`'s transcript, for a chat that ended at `ended_at`.
#[must_use]
pub fn key(prefix: &str, contact: &str, ended_at: DateTime<Utc>) -> String {
    let file = format!("{contact}_{}_UTC.json", ended_at.format("%Y%m%dT%H:%M"));
    let day = ended_at.format("%Y/%m/%d");
    if prefix.is_empty() {
        format!("{day}/{file}")
    } else {
        format!("{prefix}/{day}/{file}")
    }
}

/// One participant of the document.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DocumentParticipant {
    /// The participant.
    pub participant_id: String,
}

/// The transcript document Connect writes (member names as Connect's).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Document {
    /// `2019-08-26`.
    pub version: &'static str,
    /// The account (the emulator has none: twelve zeros).
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: &'static str,
    /// The instance the chat was started in.
    pub instance_id: String,
    /// The chat's first contact.
    pub initial_contact_id: String,
    /// The contact.
    pub contact_id: String,
    /// Everyone who took part.
    pub participants: Vec<DocumentParticipant>,
    /// The items, oldest first, rendered as GetTranscript renders them.
    pub transcript: Vec<Item>,
}

/// A transcript to write: the object key and the JSON body.
#[derive(Debug, Clone)]
pub struct Archived {
    /// Object key (without the bucket).
    pub key: String,
    /// The document.
    pub body: String,
}

/// How many transcripts may wait to be written before the oldest waiting one is dropped
/// (with an error log): the emulator must not grow without bound behind a dead S3.
pub const QUEUE: usize = 1024;

/// Writes transcripts until cancelled: creates the bucket, then `PUT`s each document,
/// retrying a failed write a few times.
pub async fn writer(
    target: ArchiveTarget,
    mut queue: mpsc::Receiver<Archived>,
    cancel: CancellationToken,
) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "transcript archive: no http client; transcripts are not written");
            return;
        }
    };
    // Creating a bucket that exists answers an error that does not matter here.
    match http
        .put(format!("{}/{}", target.endpoint, target.bucket))
        .send()
        .await
    {
        Ok(response) => tracing::info!(
            bucket = %target.bucket,
            status = response.status().as_u16(),
            "transcript archive bucket ready"
        ),
        Err(error) => {
            tracing::warn!(%error, bucket = %target.bucket, "transcript archive: bucket not created")
        }
    }
    loop {
        let archived = tokio::select! {
            () = cancel.cancelled() => return,
            next = queue.recv() => match next {
                Some(archived) => archived,
                None => return,
            },
        };
        put(&http, &target, &archived).await;
    }
}

async fn put(http: &reqwest::Client, target: &ArchiveTarget, archived: &Archived) {
    for attempt in 1..=3u32 {
        let sent = http
            .put(target.url(&archived.key))
            .header("content-type", "application/json")
            .body(archived.body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                tracing::info!(key = %archived.key, "chat transcript written");
                return;
            }
            Ok(response) => tracing::warn!(
                key = %archived.key,
                status = response.status().as_u16(),
                attempt,
                "chat transcript not written"
            ),
            Err(error) => {
                tracing::warn!(key = %archived.key, %error, attempt, "chat transcript not written")
            }
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
    }
    tracing::error!(key = %archived.key, "chat transcript lost after 3 attempts");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_connects_layout() {
        let ended = DateTime::parse_from_rfc3339("2026-09-28T15:04:05.123Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            key("connect/acme/ChatTranscripts", "c-1", ended),
            "connect/acme/ChatTranscripts/2026/09/28/c-1_20260928T15:04_UTC.json"
        );
        assert_eq!(
            key("", "c-1", ended),
            "2026/09/28/c-1_20260928T15:04_UTC.json"
        );
    }

    #[test]
    fn targets_parse_from_an_s3_location() {
        let target: ArchiveTarget =
            "http://127.0.0.1:5055/|s3://bucket/connect/acme/ChatTranscripts/"
                .parse()
                .unwrap();
        assert_eq!(
            target,
            ArchiveTarget {
                endpoint: "http://127.0.0.1:5055".into(),
                bucket: "bucket".into(),
                prefix: "connect/acme/ChatTranscripts".into(),
            }
        );
        assert!("http://x|bucket/prefix".parse::<ArchiveTarget>().is_err());
        assert!("http://x|s3:///prefix".parse::<ArchiveTarget>().is_err());
    }
}
