//! Running an emulator: [`serve`] on a listener until a shutdown future resolves, or
//! [`spawn`] one in-process on a random port for tests.
//!
//! With [`SimConfig::tls`] set, the same routes are served over HTTPS and WSS
//! ([`crate::tls`]).
//!
//! Tasks: the HTTP server, one reaper (lifecycle deadlines), one task per WebSocket and one
//! per SMS delivery ([`crate::sms::delivery`]), all tracked and all cancelled by one token.
//! Shutdown stops accepting, closes every socket with 1001, and waits for the tasks.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;

use crate::config::SimConfig;
use crate::error::ServeError;
use crate::state::Shared;

/// Serves the emulator on `listener` until `shutdown` resolves.
///
/// # Errors
/// [`ServeError`] when the listener address cannot be read or the server fails.
pub async fn serve(
    listener: TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let local_addr = listener.local_addr().map_err(ServeError::LocalAddr)?;
    let tls = config.tls.clone();
    let cancel = CancellationToken::new();
    let shared = Shared::new(config, local_addr, cancel.clone());
    shared.tasks.spawn(reaper(shared.clone()));
    let app = crate::http::router(shared.clone());
    let stop = cancel.clone();
    let shutdown = async move {
        shutdown.await;
        stop.cancel();
    };
    tracing::info!(%local_addr, tls = tls.is_some(), "connect-sim serving");
    let served = match tls {
        Some(tls) => {
            axum::serve(tls.listener(listener), app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
    .map_err(ServeError::Serve);
    cancel.cancel();
    shared.tasks.close();
    shared.tasks.wait().await;
    tracing::info!("connect-sim stopped");
    served
}

/// Ends chats whose customer-connect or duration deadline passed. It sleeps until the
/// model's next deadline (converted from simulated to real time) or until a state change.
async fn reaper(shared: Arc<Shared>) {
    loop {
        let next = shared.read(|core, _| core.model.next_deadline());
        let sleep = async {
            match next {
                Some(deadline) => sleep_until(shared.clock.to_real(deadline)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.cancel.cancelled() => break,
            () = sleep => {
                shared.mutate(|core, now| core.model.expire(now));
            }
            () = shared.deadlines_changed() => {}
        }
    }
}

/// An emulator running in-process (tests).
#[derive(Debug)]
pub struct RunningSim {
    addr: SocketAddr,
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl RunningSim {
    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://127.0.0.1:PORT` when serving TLS.
    #[must_use]
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops the emulator and waits until every task ended.
    ///
    /// # Errors
    /// The server's error, if it failed.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(ServeError::Join)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        // Without an explicit `shutdown().await` the server still stops: the signal fires and
        // the task finishes on the runtime that owns it.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts an emulator on `127.0.0.1:0` (the port in `config.bind` is ignored).
///
/// # Errors
/// [`ServeError::Bind`] when no port can be bound.
pub async fn spawn(config: SimConfig) -> Result<RunningSim, ServeError> {
    let wanted = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let listener = TcpListener::bind(wanted)
        .await
        .map_err(|source| ServeError::Bind {
            addr: wanted,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::LocalAddr)?;
    let tls = config.tls.is_some();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, config, async move {
        let _ = stopped.await;
    }));
    Ok(RunningSim {
        addr,
        tls,
        stop: Some(stop),
        task: Some(task),
    })
}
