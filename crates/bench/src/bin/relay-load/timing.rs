//! The relay process's `SmsSender`: accepts everything at once and reports the moment each
//! body was handed to it (the "SNS call" of the latency figures, SNS's own latency left
//! out) as `sms <unix-nanos> <body>` lines on stdout, written by a separate task so the
//! send path never waits on the pipe.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bridge_core::PhoneNumber;
use bridge_core::ids::SmsMessageId;
use bridge_core::ports::{SmsError, SmsSender};
use chrono::Utc;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Lines waiting for the writer; a full queue drops the report (counted), never the SMS.
const QUEUE: usize = 65_536;

/// Reports each send on stdout.
pub struct TimingSms {
    lines: mpsc::Sender<String>,
    calls: AtomicU64,
    dropped: AtomicU64,
}

impl TimingSms {
    /// The sender and the task writing its reports.
    pub fn start() -> (Self, JoinHandle<std::io::Result<()>>) {
        let (lines, mut rx) = mpsc::channel::<String>(QUEUE);
        let writer = tokio::spawn(async move {
            let mut stdout = tokio::io::stdout();
            while let Some(line) = rx.recv().await {
                stdout.write_all(line.as_bytes()).await?;
                stdout.flush().await?;
            }
            Ok(())
        });
        let sms = Self {
            lines,
            calls: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        };
        (sms, writer)
    }

    /// Reports that could not be queued.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl SmsSender for TimingSms {
    async fn send(
        &self,
        _to: &PhoneNumber,
        _from: &PhoneNumber,
        body: &str,
    ) -> Result<SmsMessageId, SmsError> {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        if self
            .lines
            .try_send(format!("sms {nanos} {body}\n"))
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        SmsMessageId::new(format!("load-{call}")).map_err(|error| SmsError::Other(Box::new(error)))
    }
}
