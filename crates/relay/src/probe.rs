//! `bridge-relay healthcheck`: the container health probe.
//!
//! The relay image is distroless (no shell, no curl), so ECS and Docker run the binary itself
//! as the health check. It GETs `/healthz` on this instance's admin listener over a plain
//! socket with short timeouts and reports 0 (healthy) or 1. It must not start a relay or need
//! the relay's full configuration: only the admin address.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long the probe waits to connect, and then for the answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No connection, or the request or the answer timed out.
    #[error("admin listener at {addr} unreachable")]
    Unreachable {
        /// Where the probe connected.
        addr: SocketAddr,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The listener answered with something other than 200.
    #[error("/healthz at {addr} answered {status_line:?}")]
    Unhealthy {
        /// Where the probe connected.
        addr: SocketAddr,
        /// The status line it got.
        status_line: String,
    },
}

/// The address to probe for an admin listener bound to `bound`: a wildcard bind
/// (`0.0.0.0`, `::`) is reached through loopback.
pub fn probe_target(bound: SocketAddr) -> SocketAddr {
    if bound.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), bound.port())
    } else {
        bound
    }
}

/// GETs `/healthz` at `addr`; `Ok` only for an HTTP 200.
///
/// # Errors
/// [`ProbeError`] when unreachable, timed out, or not 200.
pub fn check(addr: SocketAddr, timeout: Duration) -> Result<(), ProbeError> {
    let unreachable = |source| ProbeError::Unreachable { addr, source };
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(unreachable)?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(unreachable)?;
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(unreachable)?;
    // The status line is all we need; a small bounded read is enough.
    let mut head = [0u8; 256];
    let read = stream.read(&mut head).map_err(unreachable)?;
    let text = String::from_utf8_lossy(&head[..read]);
    let status_line = text.lines().next().unwrap_or_default().to_owned();
    let healthy = status_line
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code == "200");
    if healthy {
        Ok(())
    } else {
        Err(ProbeError::Unhealthy { addr, status_line })
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// Serves one connection with `answer`, on a real loopback socket.
    fn serve_once(answer: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 512];
            let read = stream.read(&mut request).unwrap();
            assert!(request[..read].starts_with(b"GET /healthz "));
            stream.write_all(answer.as_bytes()).unwrap();
        });
        addr
    }

    #[test]
    fn healthy_listener_passes() {
        let addr = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        check(addr, PROBE_TIMEOUT).unwrap();
    }

    #[test]
    fn non_200_answer_fails_with_its_status_line() {
        let addr = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        match check(addr, PROBE_TIMEOUT) {
            Err(ProbeError::Unhealthy { status_line, .. }) => {
                assert_eq!(status_line, "HTTP/1.1 503 Service Unavailable");
            }
            other => panic!("expected unhealthy, got {other:?}"),
        }
    }

    #[test]
    fn closed_port_is_unreachable() {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        assert!(matches!(
            check(addr, PROBE_TIMEOUT),
            Err(ProbeError::Unreachable { .. })
        ));
    }

    #[test]
    fn wildcard_bind_is_probed_on_loopback() {
        let bound: SocketAddr = "0.0.0.0:9090".parse().unwrap();
        assert_eq!(probe_target(bound), "127.0.0.1:9090".parse().unwrap());
        let specific: SocketAddr = "10.1.2.3:9090".parse().unwrap();
        assert_eq!(probe_target(specific), specific);
    }
}
