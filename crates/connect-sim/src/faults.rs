//! Fault injection: make the next calls of an operation fail or wait (`/sim/faults`), and
//! the WebSocket switches (`/sim/sockets/mute`).
//!
//! A fault applies before the operation runs, so a failed call has no side effect (no item,
//! no ClientToken remembered). Faults for one operation are used in the order they were added.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The emulated operations, by their AWS names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operation {
    /// Connect: StartChatContact.
    StartChatContact,
    /// Connect: StopContact.
    StopContact,
    /// Connect: UpdateParticipantRoleConfig (chat idle timers).
    UpdateParticipantRoleConfig,
    /// Participant: CreateParticipantConnection.
    CreateParticipantConnection,
    /// Participant: SendMessage.
    SendMessage,
    /// Participant: SendEvent.
    SendEvent,
    /// Participant: GetTranscript.
    GetTranscript,
    /// Participant: DisconnectParticipant.
    DisconnectParticipant,
    /// End User Messaging SMS: SendTextMessage ([`crate::sms`]).
    SendTextMessage,
}

impl Operation {
    /// Whether the operation belongs to the Connect (admin) service, whose error names differ.
    #[must_use]
    pub fn is_admin(self) -> bool {
        matches!(
            self,
            Self::StartChatContact | Self::StopContact | Self::UpdateParticipantRoleConfig
        )
    }

    /// The AWS operation name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::StartChatContact => "StartChatContact",
            Self::StopContact => "StopContact",
            Self::UpdateParticipantRoleConfig => "UpdateParticipantRoleConfig",
            Self::CreateParticipantConnection => "CreateParticipantConnection",
            Self::SendMessage => "SendMessage",
            Self::SendEvent => "SendEvent",
            Self::GetTranscript => "GetTranscript",
            Self::DisconnectParticipant => "DisconnectParticipant",
            Self::SendTextMessage => "SendTextMessage",
        }
    }

    /// Every operation.
    pub const ALL: [Self; 9] = [
        Self::StartChatContact,
        Self::StopContact,
        Self::UpdateParticipantRoleConfig,
        Self::CreateParticipantConnection,
        Self::SendMessage,
        Self::SendEvent,
        Self::GetTranscript,
        Self::DisconnectParticipant,
        Self::SendTextMessage,
    ];
}

impl FromStr for Operation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|op| op.name()).collect();
                format!(
                    "unknown Operation {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// `POST /sim/faults` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaultRequest {
    /// AWS operation name.
    pub operation: String,
    /// HTTP status to fail with; absent means "only delay".
    pub status: Option<u16>,
    /// Error shape name; defaults from the status and the operation's service.
    pub error_type: Option<String>,
    /// How many calls (default 1).
    pub count: Option<u32>,
    /// Delay before answering (or before running the operation).
    pub delay_ms: Option<u64>,
    /// Error message (default names the fault).
    pub message: Option<String>,
}

/// A parsed fault.
#[derive(Debug, Clone)]
struct Fault {
    remaining: u32,
    delay: Duration,
    error: Option<ApiError>,
}

/// What a call must do because of a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// Wait this long first.
    pub delay: Duration,
    /// Then fail with this error (or run normally when `None`).
    pub error: Option<ApiError>,
}

/// The fault queues.
#[derive(Debug, Default)]
pub struct Faults {
    queues: Mutex<HashMap<Operation, VecDeque<Fault>>>,
}

impl Faults {
    /// Adds a fault.
    ///
    /// # Errors
    /// A message naming the bad field.
    pub fn add(&self, request: FaultRequest) -> Result<Operation, String> {
        let operation: Operation = request.operation.parse()?;
        let count = request.count.unwrap_or(1);
        if count == 0 {
            return Err("Count must be at least 1".into());
        }
        let error = match request.status {
            None => {
                if request.error_type.is_some() {
                    return Err("ErrorType needs a Status".into());
                }
                None
            }
            Some(code) => {
                let status = StatusCode::from_u16(code)
                    .ok()
                    .filter(|s| s.is_client_error() || s.is_server_error())
                    .ok_or_else(|| format!("Status {code} is not a 4xx/5xx HTTP status"))?;
                let error_type = request
                    .error_type
                    .unwrap_or_else(|| default_error_type(operation, status).to_owned());
                if error_type.is_empty() || !error_type.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err("ErrorType must be a non-empty alphanumeric name".into());
                }
                let message = request
                    .message
                    .unwrap_or_else(|| format!("injected fault for {}", operation.name()));
                Some(ApiError::new(status, error_type, message))
            }
        };
        if error.is_none() && request.delay_ms.is_none() {
            return Err("give a Status, a DelayMs or both".into());
        }
        let fault = Fault {
            remaining: count,
            delay: Duration::from_millis(request.delay_ms.unwrap_or(0)),
            error,
        };
        self.lock().entry(operation).or_default().push_back(fault);
        Ok(operation)
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Takes one use of the oldest fault of `operation`.
    pub fn take(&self, operation: Operation) -> Option<Injection> {
        let mut queues = self.lock();
        let queue = queues.get_mut(&operation)?;
        let fault = queue.front_mut()?;
        fault.remaining -= 1;
        let injection = Injection {
            delay: fault.delay,
            error: fault.error.clone(),
        };
        if fault.remaining == 0 {
            queue.pop_front();
        }
        Some(injection)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Operation, VecDeque<Fault>>> {
        // A panic while holding this short, non-reentrant lock cannot leave the queues
        // half-updated in a way that matters for an emulator; keep serving.
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn default_error_type(operation: Operation, status: StatusCode) -> &'static str {
    let admin = operation.is_admin();
    match status.as_u16() {
        400 if admin => "InvalidRequestException",
        400 => "ValidationException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        409 => "ConflictException",
        // UpdateParticipantRoleConfig's model lists ThrottlingException, not LimitExceeded.
        429 if operation == Operation::UpdateParticipantRoleConfig => "ThrottlingException",
        429 if admin => "LimitExceededException",
        429 => "ThrottlingException",
        _ if admin => "InternalServiceException",
        _ => "InternalServerException",
    }
}

/// WebSocket fault switches (docs/connect-chat.md §8).
#[derive(Debug, Default)]
pub struct SocketFaults {
    mute_heartbeats: AtomicBool,
    mute_pings: AtomicBool,
}

/// `POST /sim/sockets/mute` body and reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MuteState {
    /// Stop answering `aws/heartbeat` (default true when muting).
    #[serde(default)]
    pub heartbeats: Option<bool>,
    /// Stop answering `aws/ping`.
    #[serde(default)]
    pub pings: Option<bool>,
}

impl SocketFaults {
    /// Sets the switches named in `state` (heartbeats default to muted).
    pub fn mute(&self, state: MuteState) {
        self.mute_heartbeats
            .store(state.heartbeats.unwrap_or(true), Ordering::Release);
        if let Some(pings) = state.pings {
            self.mute_pings.store(pings, Ordering::Release);
        }
    }

    /// Answers everything again.
    pub fn unmute(&self) {
        self.mute_heartbeats.store(false, Ordering::Release);
        self.mute_pings.store(false, Ordering::Release);
    }

    /// Heartbeats are not answered.
    #[must_use]
    pub fn heartbeats_muted(&self) -> bool {
        self.mute_heartbeats.load(Ordering::Acquire)
    }

    /// Pings are not answered.
    #[must_use]
    pub fn pings_muted(&self) -> bool {
        self.mute_pings.load(Ordering::Acquire)
    }

    /// Current switches.
    #[must_use]
    pub fn state(&self) -> MuteState {
        MuteState {
            heartbeats: Some(self.heartbeats_muted()),
            pings: Some(self.pings_muted()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> FaultRequest {
        serde_json::from_str(json).expect("valid request")
    }

    #[test]
    fn fault_applies_count_times_then_expires() {
        let faults = Faults::default();
        faults
            .add(request(
                r#"{"Operation":"SendMessage","Status":500,"Count":2}"#,
            ))
            .expect("added");
        for _ in 0..2 {
            let injection = faults.take(Operation::SendMessage).expect("fault");
            let error = injection.error.expect("error");
            assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(error.error_type(), "InternalServerException");
        }
        assert!(faults.take(Operation::SendMessage).is_none());
        assert!(faults.take(Operation::GetTranscript).is_none());
    }

    #[test]
    fn send_text_message_faults_use_the_sms_error_names() {
        let faults = Faults::default();
        faults
            .add(request(r#"{"Operation":"SendTextMessage","Status":429}"#))
            .expect("added");
        faults
            .add(request(r#"{"Operation":"SendTextMessage","Status":500}"#))
            .expect("added");
        let names: Vec<String> = (0..2)
            .map(|_| {
                let injection = faults.take(Operation::SendTextMessage).expect("fault");
                injection.error.expect("error").error_type().to_owned()
            })
            .collect();
        assert_eq!(names, ["ThrottlingException", "InternalServerException"]);
    }

    #[test]
    fn default_error_names_follow_the_service() {
        let faults = Faults::default();
        faults
            .add(request(r#"{"Operation":"StartChatContact","Status":429}"#))
            .expect("added");
        let admin = faults.take(Operation::StartChatContact).expect("fault");
        assert_eq!(
            admin.error.expect("error").error_type(),
            "LimitExceededException"
        );
    }

    #[test]
    fn delay_only_faults_let_the_call_run() {
        let faults = Faults::default();
        faults
            .add(request(r#"{"Operation":"GetTranscript","DelayMs":250}"#))
            .expect("added");
        let injection = faults.take(Operation::GetTranscript).expect("fault");
        assert_eq!(injection.delay, Duration::from_millis(250));
        assert!(injection.error.is_none());
    }

    #[test]
    fn bad_fault_requests_are_refused() {
        let faults = Faults::default();
        assert!(
            faults
                .add(request(r#"{"Operation":"Nope","Status":500}"#))
                .is_err()
        );
        assert!(faults.add(request(r#"{"Operation":"SendEvent"}"#)).is_err());
        assert!(
            faults
                .add(request(r#"{"Operation":"SendEvent","Status":200}"#))
                .is_err()
        );
        assert!(
            faults
                .add(request(
                    r#"{"Operation":"SendEvent","Status":500,"Count":0}"#
                ))
                .is_err()
        );
    }
}
