//! The load client: chat setup over REST and one task per participant socket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// A client socket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for a subscribe reply during setup.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Marker prefix of benchmark messages: `load:<micros since the run's epoch>`.
const MARKER: &str = "load:";

/// Counters shared by every socket task.
#[derive(Debug, Default)]
pub struct Counters {
    /// Heartbeats sent.
    pub heartbeats_sent: AtomicU64,
    /// Heartbeat replies received.
    pub heartbeats_answered: AtomicU64,
    /// Benchmark messages received (over all sockets).
    pub deliveries: AtomicU64,
    delivered: Notify,
}

impl Counters {
    /// Resolves once `expected` deliveries were counted.
    pub async fn wait_for_deliveries(&self, expected: u64) {
        loop {
            let notified = self.delivered.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.deliveries.load(Ordering::Acquire) >= expected {
                return;
            }
            notified.await;
        }
    }

    fn delivered(&self) {
        self.deliveries.fetch_add(1, Ordering::AcqRel);
        self.delivered.notify_waiters();
    }
}

/// Starts a chat, joins its agent, and opens `sockets` subscribed sockets for its customer.
pub async fn setup_chat(
    http: &reqwest::Client,
    base: &str,
    chat: usize,
    sockets: usize,
) -> anyhow::Result<(String, Vec<Socket>)> {
    let started: Value = post(
        http,
        reqwest::Method::PUT,
        &format!("{base}/contact/chat"),
        None,
        json!({
            "InstanceId": "load-instance",
            "ContactFlowId": "load-flow",
            "ParticipantDetails": {"DisplayName": format!("load-{chat}")},
        }),
    )
    .await?;
    let contact = started["ContactId"]
        .as_str()
        .context("ContactId")?
        .to_owned();
    let token = started["ParticipantToken"]
        .as_str()
        .context("ParticipantToken")?
        .to_owned();
    post(
        http,
        reqwest::Method::POST,
        &format!("{base}/sim/contacts/{contact}/agent/join"),
        None,
        json!({"DisplayName": "load-agent"}),
    )
    .await?;
    let mut opened = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        let connection: Value = post(
            http,
            reqwest::Method::POST,
            &format!("{base}/participant/connection"),
            Some(&token),
            json!({"Type": ["WEBSOCKET"]}),
        )
        .await?;
        let url = connection["Websocket"]["Url"]
            .as_str()
            .context("Websocket.Url")?;
        opened.push(open_subscribed(url).await?);
    }
    Ok((contact, opened))
}

async fn post(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
    body: Value,
) -> anyhow::Result<Value> {
    let mut request = http.request(method, url).json(&body);
    if let Some(token) = bearer {
        request = request.header("X-Amz-Bearer", token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("calling {url}"))?;
    let status = response.status();
    let text = response.text().await.context("reading the response")?;
    if !status.is_success() {
        bail!("{url} answered {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("parsing the answer of {url}"))
}

async fn open_subscribed(url: &str) -> anyhow::Result<Socket> {
    // Small buffers: 10,000 client sockets live in this one process too.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .context("opening the websocket")?;
    socket
        .send(Message::text(
            json!({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}}).to_string(),
        ))
        .await
        .context("subscribing")?;
    let reply = tokio::time::timeout(SUBSCRIBE_TIMEOUT, async {
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message.context("reading the subscribe reply")? {
                let value: Value = serde_json::from_str(text.as_str()).context("reply json")?;
                if value["topic"] == "aws/subscribe" {
                    return Ok(value);
                }
            }
        }
        bail!("socket closed before the subscribe reply")
    })
    .await
    .context("no subscribe reply in time")??;
    if reply["content"]["status"] != "success" {
        bail!("subscribe failed: {reply}");
    }
    Ok(socket)
}

/// What one socket task saw.
pub struct Outcome {
    /// The socket was still open when the run stopped.
    pub open_at_stop: bool,
    /// Delivery latency of each benchmark message, in microseconds.
    pub latencies_us: Vec<u32>,
}

/// One held socket: heartbeats like chatjs and times benchmark messages.
pub struct SocketTask {
    /// The subscribed socket.
    pub socket: Socket,
    /// Shared counters.
    pub counters: std::sync::Arc<Counters>,
    /// Stops the task.
    pub stop: CancellationToken,
    /// Interval between ping + heartbeat pairs.
    pub heartbeat: Duration,
    /// The run's time origin (message markers are relative to it).
    pub epoch: Instant,
}

impl SocketTask {
    /// Runs until stopped or the server closes the socket.
    pub async fn run(self) -> Outcome {
        let Self {
            mut socket,
            counters,
            stop,
            heartbeat,
            epoch,
        } = self;
        // Spread the first beats over one period so 10,000 sockets do not beat in lockstep.
        let offset = heartbeat.mul_f64(rand::random::<f64>());
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, heartbeat);
        let mut latencies_us = Vec::new();
        let open_at_stop = loop {
            tokio::select! {
                () = stop.cancelled() => break true,
                _ = ticker.tick() => {
                    let ping = socket.send(Message::text(r#"{"topic":"aws/ping"}"#)).await;
                    let beat = socket.send(Message::text(r#"{"topic":"aws/heartbeat"}"#)).await;
                    if ping.is_err() || beat.is_err() {
                        break false;
                    }
                    counters.heartbeats_sent.fetch_add(1, Ordering::Relaxed);
                }
                message = socket.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(latency) = observe(text.as_str(), &counters, epoch) {
                            latencies_us.push(latency);
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break false,
                    Some(Ok(_)) => {}
                },
            }
        };
        Outcome {
            open_at_stop,
            latencies_us,
        }
    }
}

/// Counts a server frame; returns the latency of a benchmark message.
fn observe(text: &str, counters: &Counters, epoch: Instant) -> Option<u32> {
    if text.contains(r#""topic":"aws/heartbeat""#) {
        counters.heartbeats_answered.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    if !text.contains(MARKER) {
        return None;
    }
    let frame: Value = serde_json::from_str(text).ok()?;
    let item: Value = serde_json::from_str(frame["content"].as_str()?).ok()?;
    let sent_us: u64 = item["Content"]
        .as_str()?
        .strip_prefix(MARKER)?
        .parse()
        .ok()?;
    let now_us = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
    counters.delivered();
    Some(u32::try_from(now_us.saturating_sub(sent_us)).unwrap_or(u32::MAX))
}
