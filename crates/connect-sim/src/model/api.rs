//! Request and response bodies of the emulated operations, with their wire names.
//!
//! restJson1 keeps the Smithy member names, so every field is PascalCase
//! (docs/connect-chat.md, introduction). Request members are all optional here so that
//! missing or malformed values become the operation's own validation error instead of a
//! generic parse failure; unknown members are ignored (§1.3).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::item::Item;
use super::timers::{TimerRole, TimerType};

/// `ParticipantDetails` of StartChatContact.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParticipantDetails {
    /// The customer's display name (required, 1–256).
    pub display_name: Option<String>,
}

/// `InitialMessage` of StartChatContact, and the agent API's message body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChatMessage {
    /// Content type.
    pub content_type: Option<String>,
    /// Content.
    pub content: Option<String>,
}

/// `PersistentChat` of StartChatContact.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PersistentChat {
    /// `ENTIRE_PAST_SESSION` or `FROM_SEGMENT`.
    pub rehydration_type: Option<String>,
    /// The past contact.
    pub source_contact_id: Option<String>,
}

/// StartChatContact (`PUT /contact/chat`) request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartChatContactRequest {
    /// Instance (any non-empty id is accepted: the emulator has no instance registry).
    pub instance_id: Option<String>,
    /// Flow (any id is accepted).
    pub contact_flow_id: Option<String>,
    /// Contact attributes.
    pub attributes: Option<BTreeMap<String, String>>,
    /// The customer.
    pub participant_details: Option<ParticipantDetails>,
    /// First customer message.
    pub initial_message: Option<ChatMessage>,
    /// Idempotency token.
    pub client_token: Option<String>,
    /// 60–10080.
    pub chat_duration_in_minutes: Option<i64>,
    /// Must include `text/plain`.
    pub supported_messaging_content_types: Option<Vec<String>>,
    /// Continue a past chat.
    pub persistent_chat: Option<PersistentChat>,
    /// Related contact (not with PersistentChat).
    pub related_contact_id: Option<String>,
    /// Segment attributes (kept, lightly validated).
    pub segment_attributes: Option<BTreeMap<String, serde_json::Value>>,
    /// CRM customer id (1–128).
    pub customer_id: Option<String>,
    /// Newer models: return the customer's connection in this response.
    pub connection_types: Option<Vec<String>>,
    /// Newer models: SNS streaming at start (not implemented; refused).
    pub chat_streaming_configuration: Option<serde_json::Value>,
}

/// `Websocket` of a connection response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Websocket {
    /// `ws://host/ws/<key>`.
    pub url: String,
    /// Deadline to open the URL.
    pub connection_expiry: String,
}

/// `ConnectionCredentials` of a connection response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectionCredentials {
    /// The ConnectionToken.
    pub connection_token: String,
    /// Its expiry.
    pub expiry: String,
}

/// StartChatContact response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartChatContactResponse {
    /// The new contact.
    pub contact_id: String,
    /// The customer participant.
    pub participant_id: String,
    /// The customer's ParticipantToken.
    pub participant_token: String,
    /// Persistent chats only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continued_from_contact_id: Option<String>,
    /// When `ConnectionTypes` asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_credentials: Option<ConnectionCredentials>,
    /// When `ConnectionTypes` asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub websocket: Option<Websocket>,
}

/// StopContact (`POST /contact/stop`) request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StopContactRequest {
    /// The contact.
    pub contact_id: Option<String>,
    /// Its instance.
    pub instance_id: Option<String>,
}

/// `TimerValue` of a participant timer: a union, exactly one member (§6.1).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParticipantTimerValue {
    /// `Unset` deletes the timer.
    pub participant_timer_action: Option<String>,
    /// 2–480 minutes.
    pub participant_timer_duration_in_minutes: Option<i64>,
}

/// One entry of `ParticipantTimerConfigList`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParticipantTimerConfiguration {
    /// `CUSTOMER` or `AGENT`.
    pub participant_role: Option<String>,
    /// `IDLE` or `DISCONNECT_NONCUSTOMER`.
    pub timer_type: Option<String>,
    /// Minutes, or the Unset action.
    pub timer_value: Option<ParticipantTimerValue>,
}

/// `Chat` of UpdateParticipantRoleConfig's channel configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChatParticipantRoleConfig {
    /// The timers to set or unset; one entry per role and type.
    pub participant_timer_config_list: Option<Vec<ParticipantTimerConfiguration>>,
}

/// `ChannelConfiguration` of UpdateParticipantRoleConfig (a union whose only member is
/// `Chat`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateParticipantRoleConfigChannelInfo {
    /// Chat timers.
    pub chat: Option<ChatParticipantRoleConfig>,
}

/// UpdateParticipantRoleConfig
/// (`PUT /contact/participant-role-config/{InstanceId}/{ContactId}`) request body; the ids
/// are path labels.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateParticipantRoleConfigRequest {
    /// The channel to configure.
    pub channel_configuration: Option<UpdateParticipantRoleConfigChannelInfo>,
}

/// CreateParticipantConnection request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateParticipantConnectionRequest {
    /// `WEBSOCKET` and/or `CONNECTION_CREDENTIALS`.
    #[serde(rename = "Type")]
    pub connection_type: Option<Vec<String>>,
    /// Mark the participant connected.
    pub connect_participant: Option<bool>,
}

/// CreateParticipantConnection response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateParticipantConnectionResponse {
    /// When `WEBSOCKET` was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub websocket: Option<Websocket>,
    /// When `CONNECTION_CREDENTIALS` was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_credentials: Option<ConnectionCredentials>,
}

/// SendMessage request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageRequest {
    /// Content type.
    pub content_type: Option<String>,
    /// Content.
    pub content: Option<String>,
    /// Idempotency token.
    pub client_token: Option<String>,
}

/// SendEvent request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendEventRequest {
    /// Event content type.
    pub content_type: Option<String>,
    /// Receipt JSON or free content.
    pub content: Option<String>,
    /// Idempotency token.
    pub client_token: Option<String>,
}

/// SendMessage / SendEvent / agent message response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendResponse {
    /// The item id (equal to the id broadcast on the socket).
    pub id: String,
    /// The item time (equal to the time broadcast on the socket).
    pub absolute_time: String,
}

/// `StartPosition` of GetTranscript.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartPosition {
    /// Item id.
    pub id: Option<String>,
    /// ISO time.
    pub absolute_time: Option<String>,
    /// n-th most recent item.
    pub most_recent: Option<i64>,
}

/// GetTranscript request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTranscriptRequest {
    /// A contact of the caller's chain.
    pub contact_id: Option<String>,
    /// 0–100 (0 means the default 10).
    pub max_results: Option<i64>,
    /// Cursor from a previous page.
    pub next_token: Option<String>,
    /// `FORWARD` or `BACKWARD`.
    pub scan_direction: Option<String>,
    /// `ASCENDING` or `DESCENDING`.
    pub sort_order: Option<String>,
    /// Where to start (`{}` means none).
    pub start_position: Option<StartPosition>,
}

/// GetTranscript response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTranscriptResponse {
    /// The chat's initial contact.
    pub initial_contact_id: String,
    /// The page.
    pub transcript: Vec<Item>,
    /// Cursor for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// DisconnectParticipant request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DisconnectParticipantRequest {
    /// Idempotency token.
    pub client_token: Option<String>,
}

/// Control API: a contact as listed by `GET /sim/contacts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContactSummary {
    /// The contact.
    pub contact_id: String,
    /// Its chat's initial contact.
    pub initial_contact_id: String,
    /// `STARTED`, `CONNECTED`, `ACTIVE` or `ENDED`.
    pub status: super::contact::Status,
    /// Contact attributes from StartChatContact.
    pub attributes: BTreeMap<String, String>,
    /// The customer's display name.
    pub customer_display_name: String,
    /// Start time.
    pub started_at: String,
    /// End time, once ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// The agent's display name, once joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_display_name: Option<String>,
    /// Persistent chats only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continued_from_contact_id: Option<String>,
    /// The idle timers in force (UpdateParticipantRoleConfig), customer's first.
    pub timers: Vec<TimerSummary>,
    /// Timers set while the agent and the customer were both connected: they wait for a new
    /// agent to join (§6.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_timers: Option<Vec<TimerSummary>>,
    /// Participant sockets subscribed to `aws/chat` (filled in by the control API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribed_sockets: Option<usize>,
}

/// Control API: one idle timer of a contact, as in `ContactSummary.Timers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimerSummary {
    /// `CUSTOMER` or `AGENT`.
    pub participant_role: TimerRole,
    /// `IDLE` or `DISCONNECT_NONCUSTOMER`.
    pub timer_type: TimerType,
    /// 2–480.
    pub duration_in_minutes: u32,
}

/// Control API: `POST /sim/contacts/{id}/agent/join` request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentJoinRequest {
    /// The agent's display name (default `Agent`).
    pub display_name: Option<String>,
}

/// Control API: agent join response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentJoinResponse {
    /// The agent participant.
    pub participant_id: String,
    /// Its display name.
    pub display_name: String,
}

/// Control API: `GET /sim/contacts/{id}/transcript` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FullTranscript {
    /// The chat's initial contact.
    pub initial_contact_id: String,
    /// Every stored item of the contact's view, oldest first, GetTranscript item shape.
    pub transcript: Vec<Item>,
}
