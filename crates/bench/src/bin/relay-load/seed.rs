//! Seeds N active chats as the inbound Lambda would: StartChatContact and
//! CreateParticipantConnection through the real `ConnectChat` adapter against connect-sim.
//! The session rows are handed to the relay process as [`Record`]s, which it stores in its
//! in-memory stand-in for DynamoDB.

use std::num::NonZeroU16;
use std::sync::Arc;

use anyhow::Context as _;
use bridge_aws::ConnectChat;
use bridge_core::PhoneNumber;
use bridge_core::ids::{
    ConnectionToken, ContactFlowId, ContactId, InstanceId, ParticipantId, ParticipantToken,
};
use bridge_core::ports::{
    ChatReader, ChatStarter, ConnectParticipant, Connection, ConnectionKind, StartChat,
};
use bridge_core::session::{Chat, Session, SessionKey};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

/// The support number every seeded customer texted.
pub const SUPPORT: &str = "+18005550100";
/// The Connect instance (any value: the sim accepts it).
pub const INSTANCE: &str = "11111111-2222-3333-4444-555555555555";
/// The contact flow.
pub const FLOW: &str = "flow-1";
/// Chats started at once.
const CONCURRENCY: usize = 32;

/// One active session, as the inbound Lambda would have stored it.
#[derive(Clone, Serialize, Deserialize)]
pub struct Record {
    /// Customer number (E.164).
    pub customer: String,
    /// The chat.
    pub contact_id: String,
    /// The customer participant.
    pub participant_id: String,
    /// The participant token.
    pub participant_token: String,
    /// The inbound side's connection token.
    pub connection_token: String,
    /// Its expiry.
    pub connection_expiry: DateTime<Utc>,
    /// When the chat was last active (the row's `updated_at`); `None`: now.
    #[serde(default)]
    pub active_at: Option<DateTime<Utc>>,
}

impl Record {
    /// The session row this record describes.
    pub fn session(&self, shards: NonZeroU16) -> anyhow::Result<Session> {
        let key = SessionKey::new(
            PhoneNumber::parse(&self.customer)?,
            PhoneNumber::parse(SUPPORT)?,
        );
        let now = self.active_at.unwrap_or_else(Utc::now);
        let shard = key.shard(shards);
        Ok(Session::first(key, shard, now).activated(
            Chat {
                contact_id: ContactId::new(self.contact_id.clone())?,
                participant_id: ParticipantId::new(self.participant_id.clone())?,
                participant_token: ParticipantToken::new(self.participant_token.clone())?,
                connection: Connection {
                    token: ConnectionToken::new(self.connection_token.clone())?,
                    expires_at: self.connection_expiry,
                },
            },
            now,
        ))
    }
}

/// The customer number of session `n` of run `run`.
pub fn customer(run: usize, n: usize) -> anyhow::Result<PhoneNumber> {
    Ok(PhoneNumber::parse(&format!("+1555{run:01}{n:06}"))?)
}

/// Starts `count` chats; returns their records in order.
pub async fn chats(
    chat: &Arc<ConnectChat>,
    run: usize,
    count: usize,
) -> anyhow::Result<Vec<Record>> {
    stream::iter(0..count)
        .map(|n| {
            let chat = Arc::clone(chat);
            async move { one(&chat, run, n).await }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}

/// Starts `count` more chats and returns one participant WebSocket URL for each (for the
/// Node.js yardstick, which then only opens sockets).
pub async fn websocket_urls(
    chat: &Arc<ConnectChat>,
    run: usize,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    stream::iter(0..count)
        .map(|n| {
            let chat = Arc::clone(chat);
            async move {
                let key = SessionKey::new(customer(run + 5, n)?, PhoneNumber::parse(SUPPORT)?);
                let started = chat
                    .start_chat(&StartChat {
                        instance_id: InstanceId::new(INSTANCE)?,
                        contact_flow_id: ContactFlowId::new(FLOW)?,
                        client_token: key.start_token(1),
                        display_name: "node customer".to_owned(),
                        attributes: Default::default(),
                        initial_message: None,
                        continue_from: None,
                        duration_minutes: None,
                        connection: None,
                    })
                    .await
                    .context("StartChatContact")?;
                let connected = chat
                    .create_connection(
                        &started.participant_token,
                        ConnectionKind::Websocket,
                        ConnectParticipant::AlreadyJoined,
                    )
                    .await
                    .context("CreateParticipantConnection")?;
                anyhow::Ok(connected.websocket.context("no websocket url")?.url)
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}

async fn one(chat: &ConnectChat, run: usize, n: usize) -> anyhow::Result<Record> {
    let customer = customer(run, n)?;
    let key = SessionKey::new(customer.clone(), PhoneNumber::parse(SUPPORT)?);
    let started = chat
        .start_chat(&StartChat {
            instance_id: InstanceId::new(INSTANCE)?,
            contact_flow_id: ContactFlowId::new(FLOW)?,
            client_token: key.start_token(1),
            display_name: "SMS customer".to_owned(),
            attributes: Default::default(),
            initial_message: Some(format!("hello from customer {n}")),
            continue_from: None,
            duration_minutes: None,
            connection: None,
        })
        .await
        .context("StartChatContact")?;
    let connected = chat
        .create_connection(
            &started.participant_token,
            ConnectionKind::Credentials,
            ConnectParticipant::Join,
        )
        .await
        .context("CreateParticipantConnection")?;
    let connection = connected.connection.context("no connection token")?;
    Ok(Record {
        customer: customer.as_e164().to_owned(),
        contact_id: started.contact_id.to_string(),
        participant_id: started.participant_id.to_string(),
        participant_token: started.participant_token.expose().to_owned(),
        connection_token: connection.token.expose().to_owned(),
        connection_expiry: connection.expires_at,
        active_at: None,
    })
}
