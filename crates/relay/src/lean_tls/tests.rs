//! [`LeanTls`] against a rustls server (tokio-rustls, as connect-sim serves TLS): bytes
//! both ways, records larger than a read and reads smaller than a record, closes from
//! either side, and no buffer held between frames.

use axum::serve::Listener as _;
use connect_sim::tls::SimTls;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A TLS server on loopback, and a client configuration that trusts it.
async fn server() -> (
    connect_sim::tls::TlsListener,
    Arc<rustls::ClientConfig>,
    u16,
) {
    let tls = SimTls::generate().unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(tls.ca_der()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (tls.listener(tcp), Arc::new(client), port)
}

async fn client(config: Arc<rustls::ClientConfig>, port: u16) -> LeanTls {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    LeanTls::connect(config, name, tcp).await.unwrap()
}

impl LeanTls {
    /// Bytes of buffer the connection holds outside rustls.
    fn buffered(&self) -> usize {
        self.incoming.capacity() + self.outgoing.capacity() + self.plaintext.capacity()
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

#[tokio::test]
async fn bytes_cross_both_ways_in_any_sizes_and_nothing_stays_buffered() {
    let (mut listener, config, port) = server().await;
    let (mut tls, (mut server, _)) = tokio::join!(client(config, port), listener.accept());
    assert_eq!(tls.buffered(), 0, "after the handshake");

    // Client → server: one small write, one of several records.
    let big = pattern(40_000);
    tls.write_all(b"hello").await.unwrap();
    tls.write_all(&big).await.unwrap();
    tls.flush().await.unwrap();
    let mut got = vec![0; 5 + big.len()];
    server.read_exact(&mut got).await.unwrap();
    assert_eq!(&got[..5], b"hello");
    assert_eq!(&got[5..], &big[..]);
    assert_eq!(tls.buffered(), 0, "after writing");

    // Server → client: read in pieces smaller than a record.
    server.write_all(&big).await.unwrap();
    server.flush().await.unwrap();
    let mut read = Vec::new();
    let mut piece = [0u8; 700];
    while read.len() < big.len() {
        let n = tls.read(&mut piece).await.unwrap();
        assert!(n > 0, "early end after {} bytes", read.len());
        read.extend_from_slice(&piece[..n]);
    }
    assert_eq!(read, big);
    assert_eq!(tls.buffered(), 0, "after reading everything");

    // A read that waits on an idle socket holds no buffer either.
    let waiting = tokio::time::timeout(Duration::from_millis(50), tls.read(&mut piece)).await;
    assert!(waiting.is_err(), "nothing was sent");
    assert_eq!(tls.buffered(), 0, "while idle");
}

#[tokio::test]
async fn a_close_from_either_side_ends_the_other_sides_reads() {
    let (mut listener, config, port) = server().await;

    // The server closes: the client reads what came before, then the end.
    let (mut tls, (mut server, _)) =
        tokio::join!(client(Arc::clone(&config), port), listener.accept());
    server.write_all(b"bye").await.unwrap();
    server.shutdown().await.unwrap();
    let mut all = Vec::new();
    tls.read_to_end(&mut all).await.unwrap();
    assert_eq!(all, b"bye");

    // The server's last data and its close arrive together, and the client writes before
    // reading on: the write is allowed, and the read still sees the end.
    let (mut tls, (mut server, _)) =
        tokio::join!(client(Arc::clone(&config), port), listener.accept());
    server.write_all(b"bye").await.unwrap();
    server.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut bye = [0u8; 3];
    tls.read_exact(&mut bye).await.unwrap();
    assert_eq!(&bye, b"bye");
    tls.write_all(b"ok").await.unwrap();
    tls.flush().await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut bye))
        .await
        .expect("the end is seen, not waited for");
    assert_eq!(end.unwrap(), 0);

    // The client closes: the server sees a clean end.
    let (mut tls, (mut server, _)) = tokio::join!(client(config, port), listener.accept());
    tls.write_all(b"last words").await.unwrap();
    tls.shutdown().await.unwrap();
    let mut all = Vec::new();
    server.read_to_end(&mut all).await.unwrap();
    assert_eq!(all, b"last words");
}

#[tokio::test]
async fn an_untrusted_server_fails_the_handshake() {
    let (mut listener, _, port) = server().await;
    let (_, other, _) = server().await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let (connected, _) = tokio::join!(
        LeanTls::connect(other, name, tcp),
        tokio::time::timeout(Duration::from_secs(1), listener.accept())
    );
    assert!(connected.is_err());
}
