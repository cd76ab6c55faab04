//! The participant WebSocket transport: connect (plain `ws://` for connect-sim, rustls
//! `wss://` for Amazon Connect), subscribe, close.
//!
//! Owns the socket's configuration and nothing else: the keep-alive and the reading loop
//! are the session worker's ([`crate::worker`]), frame parsing is [`crate::frame`]'s.
//!
//! Memory is the point here, because a relay holds thousands of these:
//! - tungstenite's defaults reserve a 128 KiB read buffer per socket (1.3 GB for 10,000
//!   sessions). Chat frames are small (one item, at most 16 KiB of content), so
//!   [`socket_config`] starts the read buffer at 1 KiB (it grows for a larger frame),
//!   buffers writes only until the next flush, and caps messages at 256 KiB.
//! - tokio-tungstenite's `MaybeTlsStream` is as large as its TLS variant (over 1 KiB) even
//!   for a plain socket, and its TLS path reloads the platform's root certificates from
//!   disk for every connection. [`Transport`] keeps a plain socket at the size of a
//!   `TcpStream` and boxes the TLS state; [`Dialer`] builds one TLS configuration, once.
//! - rustls's buffered connection keeps a 4 KiB receive buffer per socket for good:
//!   [`LeanTls`] (rustls's unbuffered API) frees its buffers between frames.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use crate::error::SessionError;
use crate::frame::{self, ServerFrame};
use crate::lean_tls::LeanTls;

/// A participant WebSocket.
pub type Socket = WebSocketStream<Transport>;

/// Initial read buffer; grows for a larger frame.
const READ_BUFFER_BYTES: usize = 1024;
/// Largest frame or message accepted: an item with 16,384 characters of content, JSON
/// escaped twice (item in envelope), fits with room to spare.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Frames fed without a flush collect up to this size, so the ping and the heartbeat leave
/// in one write (one syscall, one segment) instead of two.
const WRITE_BUFFER_BYTES: usize = 512;
/// Caps what may queue when the peer stops reading.
const MAX_WRITE_BUFFER_BYTES: usize = 64 * 1024;
/// How long a polite close may take before the socket is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The relay's socket configuration (see the module docs).
pub fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
}

/// A socket's byte stream: plain TCP inline, TLS boxed.
#[derive(Debug)]
pub enum Transport {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`: [`LeanTls`], which holds no buffer while the socket is idle.
    Tls(Box<LeanTls>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Opens participant sockets; shares one TLS configuration among all of them.
#[derive(Debug, Default)]
pub struct Dialer {
    tls: OnceCell<Arc<rustls::ClientConfig>>,
    extra_ca: Option<bridge_aws::ExtraCa>,
}

impl Dialer {
    /// A dialer that trusts `extra_ca` besides the platform's roots (a local emulator's
    /// CA; [`crate::config::EXTRA_CA_FILE`]).
    pub fn trusting(extra_ca: Option<bridge_aws::ExtraCa>) -> Self {
        Self {
            tls: OnceCell::new(),
            extra_ca,
        }
    }

    /// Connects to `url` (`ws://` or `wss://`). The caller bounds it with a timeout.
    ///
    /// # Errors
    /// [`SessionError::Socket`] when the URL, TCP, TLS or the handshake fails.
    pub async fn connect(&self, url: &str) -> Result<Socket, SessionError> {
        let request = url.into_client_request()?;
        let uri = request.uri();
        let tls = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            _ => {
                return Err(WsError::Url(
                    tokio_tungstenite::tungstenite::error::UrlError::UnsupportedUrlScheme,
                )
                .into());
            }
        };
        let host = uri
            .host()
            .ok_or(WsError::Url(
                tokio_tungstenite::tungstenite::error::UrlError::NoHostName,
            ))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(WsError::Io)?;
        tcp.set_nodelay(true).map_err(WsError::Io)?;
        let transport = if tls {
            let name = ServerName::try_from(host).map_err(|_| {
                WsError::Url(tokio_tungstenite::tungstenite::error::UrlError::NoHostName)
            })?;
            let tls = LeanTls::connect(self.tls().await?, name, tcp)
                .await
                .map_err(WsError::Io)?;
            Transport::Tls(Box::new(tls))
        } else {
            Transport::Plain(tcp)
        };
        let (socket, _response) =
            client_async_with_config(request, transport, Some(socket_config())).await?;
        // The handshake leaves a 4 KiB read buffer behind (tungstenite reuses the one it
        // read the HTTP response with), whatever `read_buffer_size` says. Start the frame
        // layer afresh on the same connection: nothing is lost, because the service sends
        // nothing on this socket before it is subscribed (docs/connect-chat.md §5.3).
        let transport = socket.into_inner();
        Ok(WebSocketStream::from_raw_socket(transport, Role::Client, Some(socket_config())).await)
    }

    /// The TLS configuration, built on first use: loading the platform's roots reads files,
    /// so it runs once, on the blocking pool.
    async fn tls(&self) -> Result<Arc<rustls::ClientConfig>, SessionError> {
        let config = self
            .tls
            .get_or_try_init(|| async {
                let extra_ca = self.extra_ca.clone();
                tokio::task::spawn_blocking(move || tls_config(extra_ca.as_ref()))
                    .await
                    .map_err(|join| WsError::Io(io::Error::other(join)))?
            })
            .await?;
        Ok(Arc::clone(config))
    }
}

fn tls_config(
    extra_ca: Option<&bridge_aws::ExtraCa>,
) -> Result<Arc<rustls::ClientConfig>, WsError> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (mut added, _ignored) = roots.add_parsable_certificates(loaded.certs);
    if let Some(ca) = extra_ca {
        // Checked when the configuration was read; none is ignored.
        let (extra, _ignored) = roots.add_parsable_certificates(ca.certificates().iter().cloned());
        added += extra;
    }
    if added == 0 {
        return Err(WsError::Io(io::Error::new(
            io::ErrorKind::NotFound,
            "no usable platform root certificates",
        )));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| WsError::Io(io::Error::other(error)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Subscribes `socket` to `aws/chat` and waits for the service's answer. The caller bounds
/// it with a timeout. Frames before the answer (heartbeats) are ignored; no chat item can
/// arrive before the subscription.
///
/// # Errors
/// [`SessionError::SubscribeRefused`] on a failure answer, [`SessionError::Closed`] or
/// [`SessionError::Socket`] when the socket goes away.
pub async fn subscribe(socket: &mut Socket) -> Result<(), SessionError> {
    socket.send(Message::text(frame::SUBSCRIBE)).await?;
    loop {
        match socket.next().await {
            None | Some(Ok(Message::Close(_))) => return Err(SessionError::Closed),
            Some(Err(error)) => return Err(error.into()),
            Some(Ok(Message::Text(text))) => match frame::parse(&text) {
                Ok(ServerFrame::Subscribed { success: true }) => return Ok(()),
                Ok(ServerFrame::Subscribed { success: false } | ServerFrame::Failure) => {
                    return Err(SessionError::SubscribeRefused);
                }
                Ok(_) | Err(_) => {}
            },
            Some(Ok(_)) => {}
        }
    }
}

/// Closes `socket` politely (code 1000), giving up after a second: the service may be gone.
/// Takes the socket by reference so callers' futures do not hold a second copy of it.
pub async fn close(socket: &mut Socket) {
    let _closed = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_small_and_the_config_is_valid() {
        let config = socket_config();
        assert_eq!(config.read_buffer_size, READ_BUFFER_BYTES);
        assert!(config.max_write_buffer_size > config.write_buffer_size);
        assert_eq!(config.max_message_size, Some(MAX_MESSAGE_BYTES));
    }

    #[test]
    fn a_plain_socket_does_not_carry_the_tls_state() {
        // A TcpStream is 40 bytes; tokio-tungstenite's MaybeTlsStream is over 1 KiB.
        assert!(std::mem::size_of::<Transport>() <= 48);
        assert!(
            std::mem::size_of::<Socket>() <= 400,
            "{}",
            std::mem::size_of::<Socket>()
        );
    }

    #[test]
    fn only_ws_and_wss_urls_are_dialled() {
        let dialer = Dialer::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(dialer.connect("http://127.0.0.1:1/ws"));
        assert!(matches!(result, Err(SessionError::Socket(_))));
    }

    #[tokio::test]
    async fn a_wss_socket_is_dialled_only_to_a_server_whose_ca_is_trusted() {
        use axum::serve::Listener as _;
        use tokio::net::TcpListener;
        let tls = connect_sim::tls::SimTls::generate().unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut listener = tls.listener(tcp);
        let server = tokio::spawn(async move {
            let (stream, _peer) = listener.accept().await;
            let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            let _ = ws.next().await;
        });
        let url = format!("wss://127.0.0.1:{}/ws/x", addr.port());

        let untrusting = Dialer::trusting(None);
        let refused = untrusting.connect(&url).await;
        assert!(
            matches!(refused, Err(SessionError::Socket(_))),
            "a server signed by an unknown CA must be refused"
        );

        let ca = bridge_aws::ExtraCa::from_pem(tls.ca_pem().as_bytes()).unwrap();
        let dialer = Dialer::trusting(Some(ca));
        let mut socket = dialer.connect(&url).await.unwrap();
        assert!(matches!(socket.get_ref(), Transport::Tls(_)));
        close(&mut socket).await;
        server.await.unwrap();
    }

    #[tokio::test]
    async fn subscribe_waits_for_success_and_refusal_is_an_error() {
        use tokio::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for answer in ["success", "failure"] {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let Some(Ok(Message::Text(request))) = ws.next().await else {
                    panic!("no frame")
                };
                assert_eq!(request.as_str(), frame::SUBSCRIBE);
                ws.send(Message::text(r#"{"topic":"aws/heartbeat"}"#))
                    .await
                    .unwrap();
                let reply =
                    format!(r#"{{"topic":"aws/subscribe","content":{{"status":"{answer}"}}}}"#);
                ws.send(Message::text(reply)).await.unwrap();
                let _ = ws.next().await;
            }
        });
        let dialer = Dialer::default();
        let mut socket = dialer.connect(&format!("ws://{addr}/ws/x")).await.unwrap();
        subscribe(&mut socket).await.unwrap();
        close(&mut socket).await;
        let mut socket = dialer.connect(&format!("ws://{addr}/ws/y")).await.unwrap();
        assert!(matches!(
            subscribe(&mut socket).await,
            Err(SessionError::SubscribeRefused)
        ));
        close(&mut socket).await;
        server.await.unwrap();
    }
}
