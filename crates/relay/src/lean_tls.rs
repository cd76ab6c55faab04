//! TLS for participant sockets that holds no buffer while the socket is idle.
//!
//! rustls's buffered connection (what tokio-rustls drives) keeps a 4 KiB receive buffer
//! per connection from its first read on, whether or not anything is in it: 40 MiB for
//! 10,000 idle sockets, a quarter of the relay's memory at that size. [`LeanTls`] drives
//! rustls's unbuffered API instead and owns its buffers: received TLS bytes, encrypted bytes
//! not yet written and decrypted bytes not yet read each live in a `Vec` that is freed as
//! soon as it is empty. An idle socket keeps only the connection's keys and state; a frame
//! borrows a few KiB for as long as it takes to read it.
//!
//! Readiness comes from the socket itself (`poll_read_ready`), so a wake-up that finds
//! nothing to read allocates nothing.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, InsufficientSizeError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// How much is read from the socket at a time (a TLS record is at most ~16.6 KiB; the
/// buffer grows to hold a record that has not fully arrived).
const READ_CHUNK: usize = 4096;
/// TLS bytes added to each record on top of its plaintext (header, content type, tag),
/// rounded up: a first guess at the room encryption needs.
const RECORD_OVERHEAD: usize = 32;
/// Largest plaintext in one TLS record.
const MAX_RECORD_PLAINTEXT: usize = 16 * 1024;

/// A TLS client connection over a TCP socket (see the module docs).
pub struct LeanTls {
    conn: UnbufferedClientConnection,
    tcp: TcpStream,
    /// TLS bytes received and not yet processed: `incoming[..received]`.
    incoming: Vec<u8>,
    received: usize,
    /// TLS bytes to send: `outgoing[sent..]` is still to be written.
    outgoing: Vec<u8>,
    sent: usize,
    /// Decrypted bytes not yet read: `plaintext[taken..]`.
    plaintext: Vec<u8>,
    taken: usize,
    /// The peer closed the TLS session (or the socket): reads end.
    peer_closed: bool,
    /// We queued our close_notify.
    close_queued: bool,
}

impl std::fmt::Debug for LeanTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeanTls")
            .field("received", &self.received)
            .field("unsent", &(self.outgoing.len() - self.sent))
            .field("unread", &(self.plaintext.len() - self.taken))
            .field("peer_closed", &self.peer_closed)
            .finish_non_exhaustive()
    }
}

/// What one round of processing the received bytes came to.
enum Step {
    /// Something changed (records decrypted, handshake bytes queued): go round again.
    Progress,
    /// Nothing more can happen without more bytes from the peer.
    NeedBytes,
    /// The handshake is over and every complete record is processed.
    Established,
    /// What was asked to be sealed is in `outgoing`.
    Sealed,
    /// The peer closed the session; `for_good` when we had closed ours too (nothing can
    /// be written any more).
    Closed { for_good: bool },
}

/// What to encrypt once the session carries application data.
#[derive(Clone, Copy)]
enum Seal<'a> {
    Data(&'a [u8]),
    CloseNotify,
}

impl LeanTls {
    /// Runs the TLS handshake with `name` over `tcp`.
    ///
    /// # Errors
    /// The socket failed, or the handshake did (certificate, protocol).
    pub async fn connect(
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        tcp: TcpStream,
    ) -> io::Result<Self> {
        let conn = UnbufferedClientConnection::new(config, name).map_err(io::Error::other)?;
        let mut tls = Self {
            conn,
            tcp,
            incoming: Vec::new(),
            received: 0,
            outgoing: Vec::new(),
            sent: 0,
            plaintext: Vec::new(),
            taken: 0,
            peer_closed: false,
            close_queued: false,
        };
        loop {
            match tls.step()? {
                Step::Progress => {}
                Step::Established => {
                    tls.send_all().await?;
                    return Ok(tls);
                }
                Step::NeedBytes => {
                    tls.send_all().await?;
                    tls.reserve_read();
                    let read = tls.tcp.read(&mut tls.incoming[tls.received..]).await?;
                    if read == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    tls.received += read;
                }
                Step::Closed { .. } | Step::Sealed => {
                    return Err(io::ErrorKind::ConnectionAborted.into());
                }
            }
        }
    }

    /// Processes the received bytes once ([`Self::advance`] with nothing to seal).
    fn step(&mut self) -> io::Result<Step> {
        self.advance(None)
    }

    /// Encrypts `seal` into `outgoing`, first taking any complete records still in
    /// `incoming` into `plaintext`.
    fn seal(&mut self, seal: Seal<'_>) -> io::Result<()> {
        loop {
            match self.advance(Some(seal))? {
                Step::Sealed => return Ok(()),
                // Writing is still allowed after the peer's close; reads now know of it.
                Step::Progress | Step::Closed { for_good: false } => {}
                Step::Closed { for_good: true } => return Err(io::ErrorKind::BrokenPipe.into()),
                Step::NeedBytes | Step::Established => {
                    return Err(io::Error::other("TLS session not established"));
                }
            }
        }
    }

    /// Processes the received bytes once: decrypted records go to `plaintext`, handshake
    /// and alert bytes to `outgoing`, and once the session carries application data,
    /// `seal` (when given) is encrypted into `outgoing` too; what was consumed is dropped
    /// from `incoming`.
    fn advance(&mut self, seal: Option<Seal<'_>>) -> io::Result<Step> {
        let Self {
            conn,
            incoming,
            received,
            outgoing,
            plaintext,
            peer_closed,
            ..
        } = self;
        let status = conn.process_tls_records(&mut incoming[..*received]);
        let mut discard = status.discard;
        let step = match status.state.map_err(io::Error::other)? {
            ConnectionState::ReadTraffic(mut traffic) => {
                while let Some(record) = traffic.next_record() {
                    let record = record.map_err(io::Error::other)?;
                    discard += record.discard;
                    plaintext.extend_from_slice(record.payload);
                }
                Step::Progress
            }
            ConnectionState::EncodeTlsData(mut encode) => {
                append(outgoing, READ_CHUNK, |room| {
                    encode.encode(room).map_err(|error| match error {
                        EncodeError::InsufficientSize(size) => Needs::More(size),
                        other => Needs::Failed(io::Error::other(other)),
                    })
                })?;
                Step::Progress
            }
            ConnectionState::TransmitTlsData(transmit) => {
                // The bytes are in `outgoing`, which goes out before anything is read
                // again; nothing else will be written ahead of them.
                transmit.done();
                Step::Progress
            }
            ConnectionState::BlockedHandshake => Step::NeedBytes,
            ConnectionState::WriteTraffic(mut traffic) => match seal {
                None => Step::Established,
                Some(seal) => {
                    let guess = match seal {
                        Seal::Data(data) => {
                            data.len() + (data.len() / MAX_RECORD_PLAINTEXT + 1) * RECORD_OVERHEAD
                        }
                        Seal::CloseNotify => RECORD_OVERHEAD,
                    };
                    append(outgoing, guess, |room| {
                        let sealed = match seal {
                            Seal::Data(data) => traffic.encrypt(data, room),
                            Seal::CloseNotify => traffic.queue_close_notify(room),
                        };
                        sealed.map_err(|error| match error {
                            EncryptError::InsufficientSize(size) => Needs::More(size),
                            other => Needs::Failed(io::Error::other(other)),
                        })
                    })?;
                    Step::Sealed
                }
            },
            // Reported once (edge-triggered): remembered for the reads.
            ConnectionState::PeerClosed => {
                *peer_closed = true;
                Step::Closed { for_good: false }
            }
            ConnectionState::Closed => {
                *peer_closed = true;
                Step::Closed { for_good: true }
            }
            _ => {
                return Err(io::Error::other("unexpected TLS connection state"));
            }
        };
        if discard > 0 {
            incoming.copy_within(discard..*received, 0);
            *received -= discard;
        }
        if *received == 0 {
            *incoming = Vec::new();
        }
        Ok(step)
    }

    /// Room for one more read at the end of `incoming`.
    fn reserve_read(&mut self) {
        if self.incoming.len() < self.received + READ_CHUNK {
            self.incoming.resize(self.received + READ_CHUNK, 0);
        }
    }

    /// Writes all of `outgoing` (the handshake).
    async fn send_all(&mut self) -> io::Result<()> {
        self.tcp.write_all(&self.outgoing[self.sent..]).await?;
        self.outgoing = Vec::new();
        self.sent = 0;
        Ok(())
    }

    /// Writes what is left of `outgoing`; frees it once sent.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.outgoing.len() {
            let written =
                ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.outgoing[self.sent..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += written;
        }
        self.outgoing = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Copies decrypted bytes into `buf`; `false` when there are none.
    fn take_plaintext(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let unread = &self.plaintext[self.taken..];
        if unread.is_empty() {
            return false;
        }
        let n = unread.len().min(buf.remaining());
        buf.put_slice(&unread[..n]);
        self.taken += n;
        if self.taken == self.plaintext.len() {
            self.plaintext = Vec::new();
            self.taken = 0;
        }
        true
    }
}

/// Why an encoder could not write into the room it was given.
enum Needs {
    /// It needs this much room.
    More(InsufficientSizeError),
    /// It failed.
    Failed(io::Error),
}

/// Appends what `encode` writes to `buffer`, giving it `guess` bytes of room first and as
/// much as it asks for if that was not enough.
fn append(
    buffer: &mut Vec<u8>,
    guess: usize,
    mut encode: impl FnMut(&mut [u8]) -> Result<usize, Needs>,
) -> io::Result<()> {
    let start = buffer.len();
    buffer.resize(start + guess, 0);
    let written = match encode(&mut buffer[start..]) {
        Ok(written) => written,
        Err(Needs::More(size)) => {
            buffer.resize(start + size.required_size, 0);
            match encode(&mut buffer[start..]) {
                Ok(written) => written,
                Err(needs) => {
                    buffer.truncate(start);
                    return Err(match needs {
                        Needs::More(_) => io::Error::other("TLS encoder kept asking for room"),
                        Needs::Failed(error) => error,
                    });
                }
            }
        }
        Err(Needs::Failed(error)) => {
            buffer.truncate(start);
            return Err(error);
        }
    };
    buffer.truncate(start + written);
    Ok(())
}

impl AsyncRead for LeanTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.take_plaintext(buf) || this.peer_closed {
                return Poll::Ready(Ok(()));
            }
            // Alerts or key-update answers queued while reading go out first; a write that
            // must wait does not hold up reading.
            if let Poll::Ready(Err(error)) = this.poll_send(cx) {
                return Poll::Ready(Err(error));
            }
            match this.step()? {
                Step::Progress | Step::Closed { .. } => continue,
                Step::NeedBytes | Step::Established | Step::Sealed => {}
            }
            // Wait for the socket before taking any buffer: an idle socket holds none.
            ready!(this.tcp.poll_read_ready(cx))?;
            this.reserve_read();
            match this.tcp.try_read(&mut this.incoming[this.received..]) {
                Ok(0) => {
                    // The peer closed the socket without a close_notify: the end of the
                    // stream (a record cut short by it is dropped; the WebSocket framing
                    // above notices a frame cut short).
                    this.peer_closed = true;
                }
                Ok(read) => this.received += read,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    if this.received == 0 {
                        this.incoming = Vec::new();
                    }
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncWrite for LeanTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // At most one write's worth waits in `outgoing`.
        ready!(this.poll_send(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        this.seal(Seal::Data(data))?;
        // The data is ours now. Start sending it; what the socket does not take yet goes
        // with the next write or the flush, which also report a failure of the socket.
        let _ = this.poll_send(cx);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_queued && !this.peer_closed {
            ready!(this.poll_send(cx))?;
            this.close_queued = true;
            // A session the peer already ended needs no close_notify of ours.
            if let Err(error) = this.seal(Seal::CloseNotify)
                && error.kind() != io::ErrorKind::BrokenPipe
            {
                return Poll::Ready(Err(error));
            }
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
