//! The transcript archive adapter: [`S3Transcripts`] implements `TranscriptArchive` over
//! the S3 bucket Amazon Connect writes chat transcripts to when a chat ends.
//!
//! Connect writes one JSON object per contact under the instance's transcript prefix
//! (`connect/<instance-alias>/ChatTranscripts` unless an administrator changed it), at
//! `<prefix>/YYYY/MM/DD/<contactId>_<timestamp>.json`. Only the `<contactId>_` start of the
//! file name is relied on: the object is found by listing each day's folder with that
//! prefix, from the day the chat started to today. The document holds the items under
//! `Transcript`, with GetTranscript's member names; it is read leniently (every member
//! optional, unknown ones ignored), and items without an id are left out (the relay's cursor
//! is built on ids). docs/connect-chat.md §10 has the sources and what is not documented
//! by AWS.
//!
//! Requests are path-style (`endpoint/bucket/key`): S3 serves them in every Region, and
//! local S3 emulators (moto) need them.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use bridge_core::ids::{ContactId, ItemId};
use bridge_core::ports::{ItemKind, Role, StoreError, TranscriptArchive, TranscriptItem};
use chrono::{DateTime, Days, Utc};
use serde::Deserialize;

use crate::clients::ClientSettings;
use crate::error::{Class, classify};

/// Days after a chat's start searched for its transcript: chats last at most 7 days
/// (ChatDurationInMinutes ≤ 10,080), and Connect writes the file when the chat ends.
const MAX_DAYS: u64 = 8;

/// Where Connect writes the instance's chat transcripts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscriptLocation {
    /// The bucket.
    pub bucket: String,
    /// The key prefix, without a trailing `/` (`connect/<alias>/ChatTranscripts`).
    pub prefix: String,
}

impl TranscriptLocation {
    /// Parses `s3://bucket/prefix`.
    ///
    /// # Errors
    /// When `location` is not `s3://bucket[/prefix]`.
    pub fn parse(location: &str) -> Result<Self, String> {
        let rest = location
            .trim()
            .strip_prefix("s3://")
            .ok_or_else(|| "not of the form s3://bucket/prefix".to_owned())?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("names no bucket".to_owned());
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    /// The folder of one day's transcripts of `contact_id` (a key prefix).
    fn day_prefix(&self, day: DateTime<Utc>, contact_id: &ContactId) -> String {
        let folder = day.format("%Y/%m/%d");
        if self.prefix.is_empty() {
            format!("{folder}/{contact_id}_")
        } else {
            format!("{}/{folder}/{contact_id}_", self.prefix)
        }
    }
}

/// Chat transcripts in S3.
#[derive(Clone, Debug)]
pub struct S3Transcripts {
    client: Client,
    location: TranscriptLocation,
}

impl S3Transcripts {
    /// Reads transcripts at `location` with a client built from `shared` with `settings`'
    /// timeouts and retries (path-style).
    pub fn new(
        shared: &aws_config::SdkConfig,
        settings: &ClientSettings,
        location: TranscriptLocation,
    ) -> Self {
        let config = aws_sdk_s3::config::Builder::from(&settings.apply(shared))
            .force_path_style(true)
            .build();
        Self {
            client: Client::from_conf(config),
            location,
        }
    }

    /// The key of `contact_id`'s transcript, if Connect has written it.
    async fn find(
        &self,
        contact_id: &ContactId,
        started: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let today = Utc::now();
        let mut day = started;
        for _ in 0..MAX_DAYS {
            let listed = self
                .client
                .list_objects_v2()
                .bucket(&self.location.bucket)
                .prefix(self.location.day_prefix(day, contact_id))
                .max_keys(10)
                .send()
                .await
                .map_err(store_error)?;
            if let Some(key) = listed
                .contents
                .unwrap_or_default()
                .into_iter()
                .filter_map(|object| object.key)
                .next()
            {
                return Ok(Some(key));
            }
            if day.date_naive() >= today.date_naive() {
                break;
            }
            match day.checked_add_days(Days::new(1)) {
                Some(next) => day = next,
                None => break,
            }
        }
        Ok(None)
    }
}

fn store_error<E>(
    error: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> StoreError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    match classify(&error) {
        Class::Throttled => StoreError::Throttled(crate::error::loggable(error)),
        Class::Transient => StoreError::Transient(crate::error::loggable(error)),
        Class::Conflict | Class::AccessDenied | Class::Invalid | Class::Other => {
            StoreError::Other(crate::error::loggable(error))
        }
    }
}

#[async_trait]
impl TranscriptArchive for S3Transcripts {
    async fn transcript(
        &self,
        contact_id: &ContactId,
        started: DateTime<Utc>,
    ) -> Result<Option<Vec<TranscriptItem>>, StoreError> {
        let Some(key) = self.find(contact_id, started).await? else {
            return Ok(None);
        };
        let object = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(&key)
            .send()
            .await
            .map_err(store_error)?;
        let body = object
            .body
            .collect()
            .await
            .map_err(|error| StoreError::Transient(Box::new(error)))?
            .into_bytes();
        parse(&body)
            .map(Some)
            .map_err(|problem| StoreError::Corrupt {
                key: format!("s3://{}/{key}", self.location.bucket),
                problem,
            })
    }
}

/// The document, leniently.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    #[serde(default)]
    transcript: Vec<WireItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireItem {
    id: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    content_type: Option<String>,
    content: Option<String>,
    participant_role: Option<String>,
    display_name: Option<String>,
    absolute_time: Option<String>,
    contact_id: Option<String>,
    related_contact_id: Option<String>,
    #[serde(default)]
    attachments: Vec<WireAttachment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireAttachment {
    attachment_name: Option<String>,
}

/// The items of a transcript document, oldest first.
///
/// # Errors
/// When the body is not a JSON object (a description, not echoing the body).
pub fn parse(body: &[u8]) -> Result<Vec<TranscriptItem>, String> {
    let document: Document = serde_json::from_slice(body)
        .map_err(|error| format!("not a transcript document: {error}"))?;
    let mut items: Vec<TranscriptItem> = document
        .transcript
        .into_iter()
        .filter_map(|wire| {
            let id = ItemId::new(wire.id?).ok()?;
            Some(TranscriptItem {
                id,
                kind: ItemKind::from_wire(wire.kind.as_deref().unwrap_or_default()),
                content_type: wire.content_type.unwrap_or_default(),
                content: wire.content,
                role: wire.participant_role.as_deref().map(Role::from_wire),
                display_name: wire.display_name,
                absolute_time: wire.absolute_time.unwrap_or_default(),
                contact_id: wire.contact_id.and_then(|id| ContactId::new(id).ok()),
                related_contact_id: wire
                    .related_contact_id
                    .and_then(|id| ContactId::new(id).ok()),
                attachment_names: wire
                    .attachments
                    .into_iter()
                    .filter_map(|attachment| attachment.attachment_name)
                    .collect(),
            })
        })
        .collect();
    // Oldest first, whatever order the file has (AbsoluteTime sorts as text: fixed width).
    items.sort_by(|a, b| a.absolute_time.cmp(&b.absolute_time));
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_name_a_days_folder() {
        let location =
            TranscriptLocation::parse("s3://bucket/connect/acme/ChatTranscripts/").unwrap();
        assert_eq!(location.bucket, "bucket");
        let day = DateTime::parse_from_rfc3339("2026-09-28T23:59:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            location.day_prefix(day, &ContactId::new("c-1").unwrap()),
            "connect/acme/ChatTranscripts/2026/09/28/c-1_"
        );
        assert!(TranscriptLocation::parse("bucket/prefix").is_err());
        assert!(TranscriptLocation::parse("s3:///prefix").is_err());
    }

    #[test]
    fn documents_are_read_leniently_and_oldest_first() {
        let body = br#"{"Version":"2019-08-26","ContactId":"c-1","Transcript":[
            {"Id":"i-2","Type":"MESSAGE","ContentType":"text/plain","Content":"two",
             "ParticipantRole":"AGENT","AbsoluteTime":"2026-09-28T15:00:02.000Z","ContactId":"c-1"},
            {"Type":"MESSAGE","Content":"no id: left out","AbsoluteTime":"2026-09-28T15:00:01.500Z"},
            {"Id":"i-1","Type":"MESSAGE","ContentType":"text/plain","Content":"one",
             "ParticipantRole":"CUSTOMER","AbsoluteTime":"2026-09-28T15:00:01.000Z","Extra":1}
        ]}"#;
        let items = parse(body).unwrap();
        let ids: Vec<&str> = items.iter().map(|item| item.id.as_str()).collect();
        assert_eq!(ids, ["i-1", "i-2"]);
        assert_eq!(items[1].role, Some(Role::Agent));
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"Version":"x"}"#).unwrap().is_empty());
    }
}
