//! [`SimConfig`]: every lifetime, limit and switch of the emulator, defaulting to AWS's values.
//!
//! The defaults are the documented service values (docs/connect-chat.md §6.3, §6.4);
//! tests shorten them. Production-versus-test behaviour is configuration only.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

/// Default listen address: `127.0.0.1:8787`.
pub const DEFAULT_PORT: u16 = 8787;

/// Configuration of one emulator instance.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address the binary binds (`serve` takes a ready listener; `spawn` uses port 0).
    pub bind: SocketAddr,
    /// ConnectionToken lifetime (AWS: 1 day).
    pub connection_token_ttl: Duration,
    /// How long a WebSocket URL may be opened after it was issued (AWS: 100 s).
    pub websocket_url_validity: Duration,
    /// The customer must connect within this time of StartChatContact (AWS: 5 min).
    pub customer_connect_timeout: Duration,
    /// Chat duration when the request gives no `ChatDurationInMinutes` (AWS: 25 h).
    pub default_chat_duration: Duration,
    /// A socket that sends nothing for this long is closed (emulator decision: 5 min).
    pub idle_socket_timeout: Duration,
    /// Open sockets per participant; a new one beyond this closes the oldest (AWS: 5).
    pub max_sockets_per_participant: NonZeroUsize,
    /// Concurrent active chats before StartChatContact answers 429 (AWS default: 100);
    /// `None` means unlimited.
    pub concurrent_chat_limit: Option<usize>,
    /// Per-operation TPS/burst token buckets (AWS defaults, off unless enabled).
    pub quotas: bool,
    /// How long a ClientToken is remembered (emulator decision: 24 h).
    pub idempotency_window: Duration,
    /// Frames buffered per socket before the socket counts as a slow consumer and is closed.
    pub socket_buffer: NonZeroUsize,
    /// Upper bound on every REST request (including long polls and injected delays).
    pub request_timeout: Duration,
    /// GetTranscript keeps answering an unexpired connection token after its chat ended.
    /// AWS documents neither answer; chatjs's maintainers report a 403, which is the
    /// default. A client must work either way.
    pub transcript_after_end: bool,
    /// A FORWARD GetTranscript with no StartPosition starts at the oldest item of the
    /// contacts this one continues (persistent chat) instead of the current contact's
    /// first. AWS does not document where it starts; a client must work either way.
    pub past_items_forward: bool,
    /// Write each ended chat's transcript to S3, as Connect does to the instance's bucket
    /// ([`crate::archive`]); `None`: not written.
    pub transcript_archive: Option<crate::archive::ArchiveTarget>,
    /// Serve HTTPS and WSS with this CA's certificate instead of plain HTTP and WS
    /// (local use and tests: production Connect is TLS only).
    pub tls: Option<crate::tls::SimTls>,
    /// The configuration sets SendTextMessage knows ([`crate::sms`]), each with the SNS
    /// topic its delivery events go to, if any. A name not listed is a
    /// ResourceNotFoundException.
    pub sms_configuration_sets: Vec<crate::sms::ConfigurationSet>,
    /// Time between a text's `TEXT_SUCCESSFUL` event and its final event (default 0).
    pub sms_delivery_delay: Duration,
}

/// Frames a socket may have queued before it is closed as a slow consumer.
pub const DEFAULT_SOCKET_BUFFER: usize = 256;

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            connection_token_ttl: Duration::from_secs(24 * 3600),
            websocket_url_validity: Duration::from_secs(100),
            customer_connect_timeout: Duration::from_secs(5 * 60),
            default_chat_duration: Duration::from_secs(25 * 3600),
            idle_socket_timeout: Duration::from_secs(5 * 60),
            max_sockets_per_participant: NonZeroUsize::new(5).unwrap_or(NonZeroUsize::MIN),
            concurrent_chat_limit: Some(100),
            quotas: false,
            idempotency_window: Duration::from_secs(24 * 3600),
            socket_buffer: NonZeroUsize::new(DEFAULT_SOCKET_BUFFER).unwrap_or(NonZeroUsize::MIN),
            request_timeout: Duration::from_secs(60),
            transcript_after_end: false,
            past_items_forward: false,
            transcript_archive: None,
            tls: None,
            sms_configuration_sets: Vec::new(),
            sms_delivery_delay: Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_aws_values() {
        let config = SimConfig::default();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8787");
        assert_eq!(config.connection_token_ttl, Duration::from_secs(86_400));
        assert_eq!(config.websocket_url_validity, Duration::from_secs(100));
        assert_eq!(config.customer_connect_timeout, Duration::from_secs(300));
        assert_eq!(config.default_chat_duration, Duration::from_secs(1500 * 60));
        assert_eq!(config.max_sockets_per_participant.get(), 5);
        assert_eq!(config.concurrent_chat_limit, Some(100));
        assert!(!config.quotas);
    }
}
