//! Chat idle timers: UpdateParticipantRoleConfig and what its timers do
//! (docs/connect-chat.md §6.1, after the admin guide's "Set up chat timeouts",
//! https://docs.aws.amazon.com/connect/latest/adminguide/setup-chat-timeouts.html).
//!
//! A chat has up to four timers, one per role (`CUSTOMER`, `AGENT`) and type (`IDLE`,
//! `DISCONNECT_NONCUSTOMER`), of 2–480 minutes each:
//!
//! - They run only while an agent and the customer are both connected: they start when the
//!   agent joins (or when the customer connects, if the agent joined first) and stop when the
//!   agent leaves, which in the emulator happens only when the chat ends.
//! - A role's idle timer runs first; when it runs out the participant is marked idle
//!   (`participant.idle`) and the role's disconnect timer starts. A role with only one of the
//!   two starts it at once.
//! - A message from a participant restarts its role's timers; if the participant was idle,
//!   `participant.returned` goes out first. Typing and receipts are not activity: the guide
//!   counts a chat as inactive while "no messages sent".
//! - A disconnect timer running out sends `participant.autodisconnection` and disconnects
//!   everyone but the customer; the emulator has no disconnect flow, so the chat ends as any
//!   chat ends (`participant.left` for those present, the agent first, then `chat.ended`).
//! - The three events go to the sockets only and are never stored, so neither GetTranscript
//!   nor the archived transcript holds them. *connect-sim:* `participant.idle` and
//!   `participant.returned` carry the idle participant's ParticipantId, DisplayName and
//!   ParticipantRole; `participant.autodisconnection` carries those of the participant whose
//!   idleness triggered it.
//! - An update merges into the chat's configuration (`Unset` deletes one timer). Made while
//!   the agent and the customer are both connected, it is kept as pending and takes effect
//!   when a new agent joins; the emulator has one agent per chat, so until the chat ends it
//!   stays pending.
//!
//! Each role remembers the one deadline it armed in the model's deadline set: restarting a
//! timer removes that entry before adding the next, the end of the chat removes both, and
//! [`Model::expire`] ignores an entry that is not the one armed, so a stale deadline never
//! fires.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::api::{TimerSummary, UpdateParticipantRoleConfigRequest};
use super::contact::{Author, Contact};
use super::ids::{ContactId, ParticipantId};
use super::item::{Role, event};
use super::validate::required;
use super::{Deadline, Effect, Model};
use crate::error::ApiError;
use crate::time::Now;

/// Allowed `ParticipantTimerDurationInMinutes` (§6.1).
const MINUTES: RangeInclusive<u32> = 2..=480;
/// The only `ParticipantTimerAction`: delete the timer.
const UNSET: &str = "Unset";

/// The role a timer watches (`TimerEligibleParticipantRoles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimerRole {
    /// The customer.
    Customer,
    /// The agent.
    Agent,
}

impl TimerRole {
    /// Both roles, customer first.
    pub const ALL: [Self; 2] = [Self::Customer, Self::Agent];

    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "CUSTOMER",
            Self::Agent => "AGENT",
        }
    }

    /// The timer role of a participant role (the service itself has none).
    #[must_use]
    pub fn of(role: Role) -> Option<Self> {
        match role {
            Role::Customer => Some(Self::Customer),
            Role::Agent => Some(Self::Agent),
            Role::System => None,
        }
    }

    fn participant_role(self) -> Role {
        match self {
            Self::Customer => Role::Customer,
            Self::Agent => Role::Agent,
        }
    }
}

/// `TimerType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimerType {
    /// Mark the participant idle.
    Idle,
    /// Disconnect every participant but the customer.
    DisconnectNoncustomer,
}

impl TimerType {
    /// Both types, idle first.
    pub const ALL: [Self; 2] = [Self::Idle, Self::DisconnectNoncustomer];

    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "IDLE",
            Self::DisconnectNoncustomer => "DISCONNECT_NONCUSTOMER",
        }
    }
}

/// One validated entry of an update: set a timer to `minutes`, or delete it (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerChange {
    /// The role.
    pub role: TimerRole,
    /// The type.
    pub timer_type: TimerType,
    /// Minutes, or `None` for `Unset`.
    pub minutes: Option<u32>,
}

/// A chat's timer configuration: minutes per role and type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerConfig(BTreeMap<(TimerRole, TimerType), u32>);

impl TimerConfig {
    /// The minutes of one timer, if set.
    #[must_use]
    pub fn minutes(&self, role: TimerRole, timer_type: TimerType) -> Option<u32> {
        self.0.get(&(role, timer_type)).copied()
    }

    /// Sets and deletes timers.
    pub fn apply(&mut self, changes: &[TimerChange]) {
        for change in changes {
            let key = (change.role, change.timer_type);
            match change.minutes {
                Some(minutes) => self.0.insert(key, minutes),
                None => self.0.remove(&key),
            };
        }
    }

    /// The timers as the control API lists them, customer's first, idle before disconnect.
    #[must_use]
    pub fn summary(&self) -> Vec<TimerSummary> {
        self.0
            .iter()
            .map(
                |(&(participant_role, timer_type), &duration_in_minutes)| TimerSummary {
                    participant_role,
                    timer_type,
                    duration_in_minutes,
                },
            )
            .collect()
    }

    /// The first deadline of a role's timers counted from `from`: the idle timer if set,
    /// else the disconnect timer.
    fn first(&self, role: TimerRole, from: Instant) -> Option<(Instant, Phase)> {
        self.minutes(role, TimerType::Idle)
            .map(|m| (from + minutes(m), Phase::Idle))
            .or_else(|| {
                self.minutes(role, TimerType::DisconnectNoncustomer)
                    .map(|m| (from + minutes(m), Phase::Disconnect))
            })
    }
}

/// What an armed deadline does when it comes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Mark the participant idle (`participant.idle`).
    Idle,
    /// Auto-disconnect: the chat ends.
    Disconnect,
}

/// One role's running timer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoleTimer {
    /// Marked idle, and no message since.
    pub idle: bool,
    /// The role's one entry in the model's deadline set, and what it does.
    pub armed: Option<(Instant, Phase)>,
}

/// A chat's timers: configuration and running state (kept on [`Contact`]).
#[derive(Debug, Clone, Default)]
pub struct ContactTimers {
    /// The configuration in force.
    pub applied: TimerConfig,
    /// Set while the agent and the customer were both connected; applies when a new agent
    /// joins.
    pub pending: Option<TimerConfig>,
    customer: RoleTimer,
    agent: RoleTimer,
}

impl ContactTimers {
    /// One role's running timer.
    #[must_use]
    pub fn role(&self, role: TimerRole) -> &RoleTimer {
        match role {
            TimerRole::Customer => &self.customer,
            TimerRole::Agent => &self.agent,
        }
    }

    fn role_mut(&mut self, role: TimerRole) -> &mut RoleTimer {
        match role {
            TimerRole::Customer => &mut self.customer,
            TimerRole::Agent => &mut self.agent,
        }
    }
}

/// Validates an UpdateParticipantRoleConfig body into its changes.
///
/// # Errors
/// InvalidParameterException: a missing member, an empty list, an unknown role, type or
/// action, minutes outside 2–480, a `TimerValue` with both members or none, or two entries
/// for the same role and type ("Duplicate entries error out the request with a 400", says
/// the model's `ChatParticipantRoleConfig`).
pub fn parse_update(
    request: &UpdateParticipantRoleConfigRequest,
) -> Result<Vec<TimerChange>, ApiError> {
    let list = request
        .channel_configuration
        .as_ref()
        .ok_or_else(|| ApiError::invalid_parameter("ChannelConfiguration is required"))?
        .chat
        .as_ref()
        .ok_or_else(|| ApiError::invalid_parameter("ChannelConfiguration.Chat is required"))?
        .participant_timer_config_list
        .as_ref()
        .ok_or_else(|| ApiError::invalid_parameter("ParticipantTimerConfigList is required"))?;
    if list.is_empty() {
        return Err(ApiError::invalid_parameter(
            "ParticipantTimerConfigList must not be empty",
        ));
    }
    let mut changes: Vec<TimerChange> = Vec::with_capacity(list.len());
    for entry in list {
        let role = entry
            .participant_role
            .as_deref()
            .ok_or_else(|| ApiError::invalid_parameter("ParticipantRole is required"))?;
        let role = TimerRole::ALL
            .into_iter()
            .find(|r| r.as_str() == role)
            .ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "ParticipantRole {role:?} is not CUSTOMER or AGENT"
                ))
            })?;
        let timer_type = entry
            .timer_type
            .as_deref()
            .ok_or_else(|| ApiError::invalid_parameter("TimerType is required"))?;
        let timer_type = TimerType::ALL
            .into_iter()
            .find(|t| t.as_str() == timer_type)
            .ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "TimerType {timer_type:?} is not IDLE or DISCONNECT_NONCUSTOMER"
                ))
            })?;
        let value = entry
            .timer_value
            .as_ref()
            .ok_or_else(|| ApiError::invalid_parameter("TimerValue is required"))?;
        let minutes = match (
            value.participant_timer_action.as_deref(),
            value.participant_timer_duration_in_minutes,
        ) {
            (Some(UNSET), None) => None,
            (Some(action), None) => {
                return Err(ApiError::invalid_parameter(format!(
                    "ParticipantTimerAction {action:?} is not {UNSET}"
                )));
            }
            (None, Some(given)) => Some(
                u32::try_from(given)
                    .ok()
                    .filter(|m| MINUTES.contains(m))
                    .ok_or_else(|| {
                        ApiError::invalid_parameter(format!(
                            "ParticipantTimerDurationInMinutes must be {}-{}, got {given}",
                            MINUTES.start(),
                            MINUTES.end()
                        ))
                    })?,
            ),
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_parameter(
                    "TimerValue must have exactly one member, not both",
                ));
            }
            (None, None) => {
                return Err(ApiError::invalid_parameter(
                    "TimerValue must have exactly one member, not none",
                ));
            }
        };
        if changes
            .iter()
            .any(|c| c.role == role && c.timer_type == timer_type)
        {
            return Err(ApiError::invalid_parameter(format!(
                "duplicate entry for {} {}",
                role.as_str(),
                timer_type.as_str()
            )));
        }
        changes.push(TimerChange {
            role,
            timer_type,
            minutes,
        });
    }
    Ok(changes)
}

impl Model {
    /// UpdateParticipantRoleConfig (§6.1): sets or deletes a chat's idle timers. Made while
    /// the agent and the customer are both connected, the update waits for a new agent.
    ///
    /// # Errors
    /// InvalidParameterException for a bad timer list, ResourceNotFoundException for an
    /// unknown contact or one of another instance, InvalidRequestException for an ended
    /// contact (*connect-sim:* "contact is not active").
    pub fn update_participant_role_config(
        &mut self,
        instance_id: &str,
        contact_id: &str,
        request: &UpdateParticipantRoleConfigRequest,
    ) -> Result<(), ApiError> {
        required(
            Some(instance_id),
            "InstanceId",
            1..=100,
            ApiError::invalid_parameter,
        )?;
        required(
            Some(contact_id),
            "ContactId",
            1..=256,
            ApiError::invalid_parameter,
        )?;
        let changes = parse_update(request)?;
        let contact = self
            .contacts
            .get_mut(&ContactId::from_client(contact_id))
            .filter(|c| c.instance_id == instance_id)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "contact {contact_id} not found in instance {instance_id}"
                ))
            })?;
        if contact.is_ended() {
            return Err(ApiError::invalid_request(format!(
                "contact {contact_id} is not active"
            )));
        }
        if timers_run(contact) {
            let timers = &mut contact.timers;
            let mut pending = timers
                .pending
                .take()
                .unwrap_or_else(|| timers.applied.clone());
            pending.apply(&changes);
            timers.pending = Some(pending);
        } else {
            contact.timers.applied.apply(&changes);
        }
        Ok(())
    }

    /// Starts both roles' timers if the agent and the customer are now both connected.
    /// `agent_joined`: a new agent joined, so a pending configuration takes effect first.
    pub(super) fn start_timers(&mut self, contact_id: &ContactId, agent_joined: bool, now: Now) {
        let Some(contact) = self.contacts.get_mut(contact_id) else {
            return;
        };
        if agent_joined && let Some(pending) = contact.timers.pending.take() {
            contact.timers.applied = pending;
        }
        if !timers_run(contact) {
            return;
        }
        for role in TimerRole::ALL {
            let first = contact.timers.applied.first(role, now.mono);
            let timer = contact.timers.role_mut(role);
            timer.idle = false;
            arm(&mut self.deadlines, contact_id, role, timer, first);
        }
    }

    /// A participant sent a message: an idle one returns (`participant.returned`), and its
    /// role's timers start over.
    pub(super) fn timer_activity(
        &mut self,
        contact_id: &ContactId,
        participant: &ParticipantId,
        now: Now,
    ) {
        let Some(contact) = self.contacts.get_mut(contact_id) else {
            return;
        };
        if !timers_run(contact) {
            return;
        }
        let Some((role, author)) = contact
            .participant(participant)
            .and_then(|p| TimerRole::of(p.role).map(|role| (role, Author::of(p))))
        else {
            return;
        };
        if contact.timers.role(role).idle {
            let item = contact.ephemeral(now.wall, event::PARTICIPANT_RETURNED, None, author);
            self.effects.push(Effect::Broadcast {
                contact: contact_id.clone(),
                item: Box::new(item),
            });
        }
        let first = contact.timers.applied.first(role, now.mono);
        let timer = contact.timers.role_mut(role);
        timer.idle = false;
        arm(&mut self.deadlines, contact_id, role, timer, first);
    }

    /// Applies a timer deadline `at` that came due; returns whether the chat ended. An entry
    /// that is not the role's armed one is stale and does nothing.
    pub(super) fn fire_timer(
        &mut self,
        contact_id: &ContactId,
        role: TimerRole,
        phase: Phase,
        at: Instant,
        now: Now,
    ) -> bool {
        let Some(contact) = self.contacts.get_mut(contact_id) else {
            return false;
        };
        if !timers_run(contact) || contact.timers.role(role).armed != Some((at, phase)) {
            return false;
        }
        contact.timers.role_mut(role).armed = None;
        let Some(author) = contact
            .participants
            .iter()
            .find(|p| p.role == role.participant_role() && !p.left)
            .map(Author::of)
        else {
            return false;
        };
        match phase {
            Phase::Idle => {
                contact.timers.role_mut(role).idle = true;
                let item = contact.ephemeral(now.wall, event::PARTICIPANT_IDLE, None, author);
                self.effects.push(Effect::Broadcast {
                    contact: contact_id.clone(),
                    item: Box::new(item),
                });
                let next = contact
                    .timers
                    .applied
                    .minutes(role, TimerType::DisconnectNoncustomer)
                    .map(|m| (at + minutes(m), Phase::Disconnect));
                arm(
                    &mut self.deadlines,
                    contact_id,
                    role,
                    contact.timers.role_mut(role),
                    next,
                );
                false
            }
            Phase::Disconnect => {
                let item =
                    contact.ephemeral(now.wall, event::PARTICIPANT_AUTODISCONNECTION, None, author);
                self.effects.push(Effect::Broadcast {
                    contact: contact_id.clone(),
                    item: Box::new(item),
                });
                let agent = contact.agent().map(|a| a.id.clone());
                let cause = match role {
                    TimerRole::Customer => "customer idle",
                    TimerRole::Agent => "agent idle",
                };
                self.end_contact(contact_id, agent.as_ref(), cause, now);
                true
            }
        }
    }
}

/// Removes both roles' armed deadlines (the chat ended).
pub(super) fn disarm(
    deadlines: &mut BTreeSet<(Instant, Deadline)>,
    contact_id: &ContactId,
    timers: &mut ContactTimers,
) {
    for role in TimerRole::ALL {
        arm(deadlines, contact_id, role, timers.role_mut(role), None);
    }
}

/// Replaces a role's armed deadline with `next` (or none).
fn arm(
    deadlines: &mut BTreeSet<(Instant, Deadline)>,
    contact: &ContactId,
    role: TimerRole,
    timer: &mut RoleTimer,
    next: Option<(Instant, Phase)>,
) {
    if let Some((at, phase)) = timer.armed.take() {
        deadlines.remove(&(
            at,
            Deadline::Timer {
                contact: contact.clone(),
                role,
                phase,
            },
        ));
    }
    if let Some((at, phase)) = next {
        deadlines.insert((
            at,
            Deadline::Timer {
                contact: contact.clone(),
                role,
                phase,
            },
        ));
    }
    timer.armed = next;
}

/// Whether the timers run: an agent and the customer both connected to a live chat.
fn timers_run(contact: &Contact) -> bool {
    !contact.is_ended()
        && contact.customer_connected
        && contact.customer().is_some_and(|c| !c.left)
        && contact.agent().is_some_and(|a| a.joined && !a.left)
}

fn minutes(m: u32) -> Duration {
    Duration::from_secs(u64::from(m) * 60)
}
