//! The participant WebSocket at `/ws/<key>` (docs/connect-chat.md §5).
//!
//! The upgrade is refused with 403 unless the key was issued by CreateParticipantConnection,
//! is used for the first time, within its validity, for a live chat. One task per socket
//! (owned by the server's task tracker) answers `aws/subscribe`, `aws/heartbeat` and
//! `aws/ping` itself and writes the `aws/chat` frames the hub queues for it. The task closes
//! the socket when the chat ends (after the queued frames, code 1000), when the hub kills it
//! (slow consumer, replaced, dropped), after the idle timeout, or at shutdown (1001).
//!
//! Per-socket memory is kept small for the 10,000-socket target: a 4 KiB read buffer, no
//! write buffering, a bounded frame queue.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::time::{Instant, sleep_until, timeout};

use crate::error::ApiError;
use crate::hub::{Kill, SocketHandle};
use crate::state::Shared;

/// Bytes read from the socket at a time; client frames are tiny.
const READ_BUFFER: usize = 4 * 1024;
/// Largest client message accepted.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Cap on unsent bytes before a write fails.
const MAX_WRITE_BUFFER: usize = 256 * 1024;
/// A write that takes longer than this means the peer is gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The one topic the service serves.
const CHAT_TOPIC: &str = "aws/chat";

/// `GET /ws/{key}`: validates the key and upgrades.
pub async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let registered = shared.mutate(|core, now| {
        core.model
            .open_socket(&key, now)
            .map(|grant| core.hub.register(grant))
    });
    let handle = match registered {
        Ok(handle) => handle,
        Err(refusal) => {
            shared
                .metrics
                .sockets_refused_total
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(reason = %refusal, "websocket refused");
            return ApiError::access_denied(refusal.to_string()).into_response();
        }
    };
    tracing::debug!(contact_id = %handle.contact, socket = handle.id, "websocket accepted");
    let tasks = shared.tasks.clone();
    let (failed, socket_id) = (shared.clone(), handle.id);
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_failed_upgrade(move |error| {
            tracing::info!(%error, socket = socket_id, "websocket upgrade failed");
            failed.sockets(|hub| hub.unregister(socket_id));
        })
        .on_upgrade(move |socket| tasks.track_future(run(shared, socket, handle)))
}

/// How a socket task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Send a close frame.
    Close(u16, &'static str),
    /// Drop the connection without a close frame.
    Abort,
    /// The peer is gone already.
    Gone,
}

async fn run(shared: Arc<Shared>, mut socket: WebSocket, handle: SocketHandle) {
    let SocketHandle {
        id,
        contact,
        mut frames,
        mut kill,
    } = handle;
    let idle = shared.config.idle_socket_timeout;
    let mut idle_deadline = Instant::now() + idle;
    let mut kill_armed = true;
    let mut draining = false;
    let end = loop {
        tokio::select! {
            biased;
            () = shared.cancel.cancelled() => break End::Close(1001, "server shutting down"),
            kill = &mut kill, if kill_armed => {
                kill_armed = false;
                match kill {
                    Ok(Kill::Drain) | Err(_) => draining = true,
                    Ok(Kill::Close(code, reason)) => break End::Close(code, reason),
                    Ok(Kill::Abort) => break End::Abort,
                }
            }
            frame = frames.recv() => match frame {
                Some(frame) => {
                    if !send(&shared, &mut socket, Message::Text(frame)).await {
                        break End::Gone;
                    }
                }
                None if draining => break End::Close(1000, "chat ended"),
                None => break End::Close(1000, "connection closed by the service"),
            },
            incoming = socket.recv() => {
                idle_deadline = Instant::now() + idle;
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(reply) = answer(&shared, id, text.as_str())
                            && !send(&shared, &mut socket, Message::Text(reply)).await {
                                break End::Gone;
                            }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break End::Gone,
                    Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => {}
                }
            }
            () = sleep_until(idle_deadline) => {
                shared.metrics.idle_closes_total.fetch_add(1, Ordering::Relaxed);
                break End::Close(1000, "idle timeout");
            }
        }
    };
    shared.sockets(|hub| hub.unregister(id));
    tracing::debug!(contact_id = %contact, socket = id, ?end, "websocket closed");
    match end {
        End::Close(code, reason) => {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            // The peer may be gone already; the socket is dropped either way.
            let _ = timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
        }
        End::Abort | End::Gone => {}
    }
}

async fn send(shared: &Shared, socket: &mut WebSocket, message: Message) -> bool {
    match timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => {
            shared
                .metrics
                .frames_sent_total
                .fetch_add(1, Ordering::Relaxed);
            true
        }
        Ok(Err(_)) | Err(_) => false,
    }
}

/// A client frame (§5.2).
#[derive(Debug, Deserialize)]
struct ClientFrame {
    topic: Option<String>,
    content: Option<TopicList>,
}

#[derive(Debug, Deserialize)]
struct TopicList {
    topics: Option<Vec<String>>,
}

/// What the service answers to one client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Subscribed(bool, Vec<String>),
    Unsubscribed(Vec<String>),
    Heartbeat,
    Ping,
    Invalid,
}

fn classify(text: &str) -> Answer {
    let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
        return Answer::Invalid;
    };
    let topics = frame.content.and_then(|c| c.topics).unwrap_or_default();
    match frame.topic.as_deref() {
        Some("aws/subscribe") => {
            let ok = topics.iter().any(|t| t == CHAT_TOPIC);
            let listed = if ok {
                vec![CHAT_TOPIC.to_owned()]
            } else {
                topics
            };
            Answer::Subscribed(ok, listed)
        }
        Some("aws/unsubscribe") => Answer::Unsubscribed(topics),
        Some("aws/heartbeat") => Answer::Heartbeat,
        Some("aws/ping") => Answer::Ping,
        _ => Answer::Invalid,
    }
}

/// Handles one client frame; returns the reply to send, if any.
fn answer(shared: &Shared, id: crate::hub::SocketId, text: &str) -> Option<Utf8Bytes> {
    let reply = match classify(text) {
        Answer::Subscribed(ok, topics) => {
            // Through `mutate` so long polls waiting for subscribers wake up.
            let ok = ok && shared.mutate(|core, _| core.hub.subscribe(id));
            serde_json::json!({
                "topic": "aws/subscribe",
                "content": {"status": if ok { "success" } else { "failure" }, "topics": topics},
            })
        }
        Answer::Unsubscribed(topics) => {
            if topics.iter().any(|t| t == CHAT_TOPIC) {
                shared.sockets(|hub| hub.unsubscribe(id));
            }
            serde_json::json!({
                "topic": "aws/unsubscribe",
                "content": {"status": "success", "topics": topics},
            })
        }
        Answer::Heartbeat => {
            if shared.socket_faults.heartbeats_muted() {
                return None;
            }
            shared
                .metrics
                .heartbeats_total
                .fetch_add(1, Ordering::Relaxed);
            serde_json::json!({"topic": "aws/heartbeat"})
        }
        Answer::Ping => {
            if shared.socket_faults.pings_muted() {
                return None;
            }
            serde_json::json!({"topic": "aws/ping", "statusCode": 200})
        }
        Answer::Invalid => serde_json::json!({
            "message": "Invalid request",
            "connectionId": id.to_string(),
            "requestId": uuid::Uuid::new_v4().to_string(),
        }),
    };
    Some(Utf8Bytes::from(reply.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_to_chat_topic_succeeds() {
        assert_eq!(
            classify(r#"{"topic":"aws/subscribe","content":{"topics":["aws/chat"]}}"#),
            Answer::Subscribed(true, vec!["aws/chat".into()])
        );
    }

    #[test]
    fn subscribe_to_other_topics_fails() {
        assert_eq!(
            classify(r#"{"topic":"aws/subscribe","content":{"topics":["aws/other"]}}"#),
            Answer::Subscribed(false, vec!["aws/other".into()])
        );
    }

    #[test]
    fn heartbeat_and_ping_without_content_are_recognised() {
        assert_eq!(classify(r#"{"topic":"aws/heartbeat"}"#), Answer::Heartbeat);
        assert_eq!(classify(r#"{"topic":"aws/ping"}"#), Answer::Ping);
    }

    #[test]
    fn garbage_is_invalid() {
        assert_eq!(classify("not json"), Answer::Invalid);
        assert_eq!(classify(r#"{"topic":"aws/what"}"#), Answer::Invalid);
    }
}
