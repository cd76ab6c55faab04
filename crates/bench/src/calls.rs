//! Counting AWS calls: an SDK interceptor that records every operation a client runs, with
//! its attempts and the HTTP status of its last one, and the bridge's clients built with it.
//!
//! The count is taken where the calls leave the process (the SDK's orchestrator), not at
//! the ports: one port call may be several AWS calls, and a retry is another request on
//! the bill. An operation is what ARCHITECTURE.md's call budgets count ("at most 3 on the
//! resume path"); attempts show the retries inside it.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use bridge_aws::{ClientSettings, Clients};

/// One AWS operation as the SDK ran it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The service, as the SDK names it (`DynamoDB`, `ConnectParticipant`, …).
    pub service: String,
    /// The operation (`BatchGetItem`, `SendMessage`, …).
    pub operation: String,
    /// HTTP requests sent for it: 1, plus one per retry.
    pub attempts: u32,
    /// The HTTP status of the last attempt's response, if one arrived.
    pub status: Option<u16>,
}

impl Call {
    /// `Service.Operation`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.service, self.operation)
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.service, self.operation)?;
        match self.status {
            Some(status) if !(200..300).contains(&status) => write!(f, " ({status})")?,
            _ => {}
        }
        if self.attempts > 1 {
            write!(f, " ×{}", self.attempts)?;
        }
        Ok(())
    }
}

/// The calls recorded so far, shared by every client built with [`clients`]. Cloning
/// shares the record.
#[derive(Clone, Debug, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<Call>>>,
}

/// Which entry of the log an operation's attempts belong to (kept in the operation's own
/// config bag, so concurrent operations never mix).
#[derive(Clone, Debug)]
struct Entry(usize);

impl Storable for Entry {
    type Storer = StoreReplace<Self>;
}

impl CallLog {
    /// A new, empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call recorded since the last [`CallLog::take`], in the order they started.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.lock())
    }

    /// The calls recorded so far, leaving them in the log.
    pub fn snapshot(&self) -> Vec<Call> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Call>> {
        // A panic while holding the lock leaves a valid Vec: keep counting.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, cfg: &ConfigBag, change: impl FnOnce(&mut Call)) {
        if let Some(Entry(index)) = cfg.load::<Entry>() {
            // An entry taken away by `take` mid-operation is simply not updated.
            if let Some(call) = self.lock().get_mut(*index) {
                change(call);
            }
        }
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    // Not `read_before_execution`: a client's interceptors see that before the
    // operation's own configuration (and its `Metadata`) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg.load::<Metadata>().map_or_else(
            || ("?".to_owned(), "?".to_owned()),
            |metadata| (metadata.service().to_owned(), metadata.name().to_owned()),
        );
        let index = {
            let mut calls = self.lock();
            calls.push(Call {
                service,
                operation,
                attempts: 0,
                status: None,
            });
            calls.len() - 1
        };
        cfg.interceptor_state().store_put(Entry(index));
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.update(cfg, |call| call.attempts += 1);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let status = context
            .response()
            .map(|response| response.status().as_u16());
        self.update(cfg, |call| call.status = status);
        Ok(())
    }
}

/// The bridge's four clients, as [`Clients::new`] builds them from `shared` and
/// `settings`, each with `log` recording its calls.
pub fn clients(shared: &SdkConfig, settings: &ClientSettings, log: &CallLog) -> Clients {
    let shared = settings.apply(shared);
    Clients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&shared)
                .interceptor(log.clone())
                .build(),
        ),
        sns: aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&shared)
                .interceptor(log.clone())
                .build(),
        ),
        connect: aws_sdk_connect::Client::from_conf(
            aws_sdk_connect::config::Builder::from(&shared)
                .interceptor(log.clone())
                .build(),
        ),
        participant: aws_sdk_connectparticipant::Client::from_conf(
            aws_sdk_connectparticipant::config::Builder::from(&shared)
                .interceptor(log.clone())
                .build(),
        ),
        sms_voice: aws_sdk_pinpointsmsvoicev2::Client::from_conf(
            aws_sdk_pinpointsmsvoicev2::config::Builder::from(&shared)
                .interceptor(log.clone())
                .build(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_names_its_service_and_operation_and_shows_failures_and_retries() {
        let mut call = Call {
            service: "DynamoDB".into(),
            operation: "BatchGetItem".into(),
            attempts: 1,
            status: Some(200),
        };
        assert_eq!(call.to_string(), "DynamoDB.BatchGetItem");
        call.status = Some(403);
        call.attempts = 2;
        assert_eq!(call.to_string(), "DynamoDB.BatchGetItem (403) ×2");
        assert_eq!(call.name(), "DynamoDB.BatchGetItem");
    }
}
