//! Shared helpers for the conformance tests: an in-process emulator, the real AWS SDK clients
//! pointed at it, a participant WebSocket client and the `/sim` control API.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_connect::config::{Credentials, Region};
use connect_sim::{RunningSim, SimConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest a test waits for any one thing to happen.
pub const WAIT: Duration = Duration::from_secs(10);
pub const INSTANCE: &str = "11111111-2222-3333-4444-555555555555";
pub const FLOW: &str = "flow-1";

pub struct Harness {
    pub sim: RunningSim,
    pub connect: aws_sdk_connect::Client,
    pub participant: aws_sdk_connectparticipant::Client,
    pub http: reqwest::Client,
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(SimConfig::default()).await
    }

    pub async fn with(config: SimConfig) -> Self {
        let sim = connect_sim::spawn(config).await.expect("sim starts");
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(sim.base_url())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(WAIT)
                    .connect_timeout(Duration::from_secs(2))
                    .build(),
            )
            .load()
            .await;
        Self {
            connect: aws_sdk_connect::Client::new(&sdk),
            participant: aws_sdk_connectparticipant::Client::new(&sdk),
            http: reqwest::Client::builder()
                .timeout(WAIT * 4)
                .build()
                .expect("http client"),
            sim,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// StartChatContact with the defaults used everywhere.
    pub async fn start_chat(
        &self,
        name: &str,
    ) -> aws_sdk_connect::operation::start_chat_contact::StartChatContactOutput {
        self.connect
            .start_chat_contact()
            .instance_id(INSTANCE)
            .contact_flow_id(FLOW)
            .participant_details(
                aws_sdk_connect::types::ParticipantDetails::builder()
                    .display_name(name)
                    .build()
                    .expect("details"),
            )
            .send()
            .await
            .expect("StartChatContact")
    }

    /// CreateParticipantConnection for WEBSOCKET and CONNECTION_CREDENTIALS: (url, token).
    pub async fn connect_participant(&self, participant_token: &str) -> (String, String) {
        use aws_sdk_connectparticipant::types::ConnectionType;
        let out = self
            .participant
            .create_participant_connection()
            .participant_token(participant_token)
            .r#type(ConnectionType::Websocket)
            .r#type(ConnectionType::ConnectionCredentials)
            .send()
            .await
            .expect("CreateParticipantConnection");
        (
            out.websocket()
                .and_then(|w| w.url())
                .expect("url")
                .to_owned(),
            out.connection_credentials()
                .and_then(|c| c.connection_token())
                .expect("token")
                .to_owned(),
        )
    }

    /// A started chat with a connected customer: (contact id, ws url, connection token).
    pub async fn connected_chat(&self, name: &str) -> (String, String, String) {
        let started = self.start_chat(name).await;
        let (url, token) = self
            .connect_participant(started.participant_token().expect("participant token"))
            .await;
        (
            started.contact_id().expect("contact id").to_owned(),
            url,
            token,
        )
    }

    pub async fn sim_post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("sim api reachable");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("json")
        };
        (status, value)
    }

    pub async fn sim_get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("sim api reachable");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    pub async fn agent_says(&self, contact: &str, text: &str) -> Value {
        let (status, body) = self
            .sim_post(
                &format!("/sim/contacts/{contact}/agent/messages"),
                json!({"Content": text, "ContentType": "text/plain"}),
            )
            .await;
        assert_eq!(status, 200, "agent message: {body}");
        body
    }

    pub async fn transcript(&self, contact: &str) -> Vec<Value> {
        let (status, body) = self
            .sim_get(&format!("/sim/contacts/{contact}/transcript"))
            .await;
        assert_eq!(status, 200, "transcript: {body}");
        body["Transcript"].as_array().expect("array").clone()
    }

    pub async fn contact(&self, contact: &str) -> Value {
        let (status, body) = self.sim_get(&format!("/sim/contacts/{contact}")).await;
        assert_eq!(status, 200, "contact: {body}");
        body
    }
}

pub type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A participant socket as a client sees it.
pub struct Socket {
    pub stream: Stream,
}

impl Socket {
    pub async fn open(url: &str) -> Self {
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket opens");
        Self { stream }
    }

    /// Opens and subscribes to `aws/chat`, asserting the success reply.
    pub async fn subscribed(url: &str) -> Self {
        let mut socket = Self::open(url).await;
        socket
            .send(json!({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}}))
            .await;
        let reply = socket.next_json().await;
        assert_eq!(reply["topic"], "aws/subscribe", "{reply}");
        assert_eq!(reply["content"]["status"], "success", "{reply}");
        socket
    }

    pub async fn send(&mut self, value: Value) {
        self.stream
            .send(Message::text(value.to_string()))
            .await
            .expect("frame sent");
    }

    /// The next message of any kind, within [`WAIT`].
    pub async fn next_message(&mut self) -> Option<Message> {
        tokio::time::timeout(WAIT, self.stream.next())
            .await
            .expect("a frame within the wait")
            .map(|m| m.expect("socket error"))
    }

    /// The next text frame as JSON.
    pub async fn next_json(&mut self) -> Value {
        loop {
            match self.next_message().await {
                Some(Message::Text(text)) => {
                    return serde_json::from_str(text.as_str()).expect("json frame");
                }
                Some(Message::Ping(_) | Message::Pong(_)) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next `aws/chat` item (parsed from the frame's string content).
    pub async fn next_item(&mut self) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["topic"] == "aws/chat" {
                let content = frame["content"].as_str().expect("content is a JSON string");
                return serde_json::from_str(content).expect("item json");
            }
        }
    }

    /// Skips items until one with `content_type` arrives.
    pub async fn item_of_type(&mut self, content_type: &str) -> Value {
        loop {
            let item = self.next_item().await;
            if item["ContentType"] == content_type {
                return item;
            }
        }
    }

    /// Reads until the server closes; returns the close frame (None: closed without one).
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        loop {
            match tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("close within the wait")
            {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }
}

pub const JOINED: &str = "application/vnd.amazonaws.connect.event.participant.joined";
pub const LEFT: &str = "application/vnd.amazonaws.connect.event.participant.left";
pub const ENDED: &str = "application/vnd.amazonaws.connect.event.chat.ended";
pub const TYPING: &str = "application/vnd.amazonaws.connect.event.typing";
pub const READ: &str = "application/vnd.amazonaws.connect.event.message.read";
