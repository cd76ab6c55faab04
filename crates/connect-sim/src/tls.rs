//! HTTPS and WSS for the emulator, for local use and tests only.
//!
//! Amazon Connect serves its APIs over HTTPS and its participant sockets over `wss://`; a
//! client measured or tested against plain `http://` skips the TLS work and memory that
//! production pays. [`SimTls::generate`] makes a fresh CA and a server certificate for
//! `localhost` and `127.0.0.1` at start (nothing is read from or kept on disk but the CA,
//! which the binary writes where `--tls-ca-out` says, for clients to trust).
//! [`TlsListener`] is an [`axum::serve::Listener`] that completes each handshake in its own
//! task, so one slow or silent client does not hold up the others.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Handshakes in flight at once; the listener stops accepting while this many are pending.
const MAX_PENDING_HANDSHAKES: usize = 512;
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Making a key or certificate failed.
    #[error("cannot make the emulator's certificates")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("cannot configure TLS")]
    Config(#[from] rustls::Error),
}

/// A CA made at start and the server configuration it signed.
#[derive(Clone)]
pub struct SimTls {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for SimTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The server config holds the private key; only say that TLS is on.
        f.write_str("SimTls { .. }")
    }
}

impl SimTls {
    /// A new CA, and a certificate it signed for `localhost` and `127.0.0.1`.
    ///
    /// # Errors
    /// [`TlsError`] when a key cannot be generated or rustls refuses the certificate.
    pub fn generate() -> Result<Self, TlsError> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name
            .push(DnType::CommonName, "connect-sim local CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "connect-sim");
        let server_cert = server.signed_by(&server_key, &issuer)?;

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![server_cert.der().clone(), ca_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )?;
        // WebSocket upgrades are HTTP/1.1; offering only it keeps every client on one path.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().clone(),
            server: Arc::new(config),
        })
    }

    /// The CA certificate, PEM: what a client must trust to reach this emulator.
    #[must_use]
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate, DER.
    #[must_use]
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca_der.clone()
    }

    /// Wraps `tcp` so every accepted connection is served over TLS.
    #[must_use]
    pub fn listener(&self, tcp: TcpListener) -> TlsListener {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(self.server.clone()),
            handshakes: JoinSet::new(),
        }
    }
}

/// A TCP listener that yields connections once their TLS handshake is done.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .field("pending_handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(ready)) = done {
                        return ready;
                    }
                }
                accepted = self.tcp.accept(), if self.handshakes.len() < MAX_PENDING_HANDSHAKES => {
                    match accepted {
                        Ok((tcp, peer)) => {
                            let acceptor = self.acceptor.clone();
                            self.handshakes.spawn(handshake(acceptor, tcp, peer));
                        }
                        Err(error) => {
                            // As axum's own TCP listener does: out of descriptors and the
                            // like pass; back off a little rather than spin.
                            tracing::warn!(%error, "accepting a connection failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<(TlsStream<TcpStream>, SocketAddr)> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Some((tls, peer)),
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_one_pem_certificate_that_parses() {
        let tls = SimTls::generate().expect("certificates");
        assert!(tls.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(tls.ca_pem().matches("BEGIN CERTIFICATE").count(), 1);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(tls.ca_der()).expect("a usable root");
        assert_eq!(roots.len(), 1);
    }

    #[tokio::test]
    async fn a_client_trusting_the_ca_completes_a_handshake_and_one_that_does_not_fails() {
        use axum::serve::Listener as _;
        let tls = SimTls::generate().expect("certificates");
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let mut listener = tls.listener(tcp);
        let server = tokio::spawn(async move {
            let (_stream, _peer) = listener.accept().await;
        });

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let connect = |roots: rustls::RootCertStore| {
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            async move {
                let tcp = TcpStream::connect(addr).await.expect("connect");
                let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
                tokio_rustls::TlsConnector::from(Arc::new(config))
                    .connect(name, tcp)
                    .await
            }
        };

        let refused = connect(rustls::RootCertStore::empty()).await;
        assert!(refused.is_err(), "a client without the CA must not connect");

        let mut roots = rustls::RootCertStore::empty();
        roots.add(tls.ca_der()).expect("root");
        connect(roots)
            .await
            .expect("a client trusting the CA connects");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the listener yields the connection")
            .expect("server task");
    }
}
