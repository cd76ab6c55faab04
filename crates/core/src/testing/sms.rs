//! [`RecordingSms`]: an [`SmsSender`] that sends nothing and remembers everything.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::ids::SmsMessageId;
use crate::phone::PhoneNumber;
use crate::ports::{SmsError, SmsSender};

/// One SMS a [`RecordingSms`] accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentSms {
    /// Destination.
    pub to: PhoneNumber,
    /// Origination (support number).
    pub from: PhoneNumber,
    /// Text.
    pub body: String,
}

/// An [`SmsSender`] that records what it was asked to send.
#[derive(Debug, Default)]
pub struct RecordingSms {
    sent: Mutex<Vec<SentSms>>,
    next_id: AtomicU64,
}

impl RecordingSms {
    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<SentSms> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl SmsSender for RecordingSms {
    async fn send(
        &self,
        to: &PhoneNumber,
        from: &PhoneNumber,
        body: &str,
    ) -> Result<SmsMessageId, SmsError> {
        self.sent.lock().unwrap().push(SentSms {
            to: to.clone(),
            from: from.clone(),
            body: body.to_owned(),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Ok(SmsMessageId::new(format!("sms-{id}")).unwrap())
    }
}
