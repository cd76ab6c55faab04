//! The interpreter of `bridge_core::intake`: each [`Command`] the machine hands out becomes
//! one port call, and its result the [`Observed`] the machine reads next.
//!
//! Nothing here decides anything. What it owns is what the machine cannot know: the
//! ports, the errors with their causes (the machine only hears [`Observed::Failed`], and
//! the first such error is what the invocation fails with), writer ids, the jittered poll
//! delay, the monotonic clock, and the StartChatContact request's configured fields.

use std::collections::BTreeMap;

use bridge_core::config::SupportLine;
use bridge_core::intake::{Command, Failure, Handled, Intake, Moment, Observed, Text};
use bridge_core::ports::{ChatError, ConnectionKind, SmsError, StartChat, StoreError};
use bridge_core::session::Session;
use tokio::time::Instant;
use tracing::debug;

use super::attribute;
use super::{Handler, HandlerError, Step, chain_of, new_writer_id, poll_delay};
use crate::outcome::{DropReason, Outcome};

impl Handler {
    /// Runs `intake` to its end over the ports.
    pub(super) async fn interpret(
        &self,
        mut intake: Intake,
        line: &SupportLine,
    ) -> Result<Handled, HandlerError> {
        let began = Instant::now();
        let moment = |clock: &dyn bridge_core::ports::Clock| Moment {
            now: clock.now(),
            elapsed: began.elapsed(),
        };
        let mut failed: Option<HandlerError> = None;
        let mut command = intake.begin(moment(self.clock.as_ref()));
        loop {
            let observed = match command {
                Command::Finish(Ok(handled)) => return Ok(handled),
                Command::Finish(Err(failure)) => return Err(error_of(failure, failed)),
                command => match self.perform(intake.text(), line, command).await {
                    Ok(observed) => observed,
                    Err(error) => {
                        // The first error is the invocation's; a failed release after it
                        // is not.
                        failed.get_or_insert(error);
                        Observed::Failed
                    }
                },
            };
            command = intake.step(observed, moment(self.clock.as_ref()));
        }
    }

    /// One command, as one port call (or a sleep).
    async fn perform(
        &self,
        text: &Text,
        line: &SupportLine,
        command: Command,
    ) -> Result<Observed, HandlerError> {
        let store = |step| move |error| HandlerError::store(step, error);
        Ok(match command {
            Command::ReadSession { with_marker: true } => {
                // The session and the dedupe marker in one request where the store can
                // (DynamoDB: one BatchGetItem), keeping the resume path at three AWS calls.
                let (session, processed) = self
                    .sessions
                    .get_with_marker(text.key(), text.id())
                    .await
                    .map_err(store(Step::ReadSession))?;
                Observed::Session { session, processed }
            }
            Command::ReadSession { with_marker: false } => Observed::Session {
                session: self
                    .sessions
                    .get(text.key())
                    .await
                    .map_err(store(Step::ReadSession))?,
                processed: None,
            },
            Command::ReadMarker(id) => Observed::Marker(
                self.dedupe
                    .is_processed(&id)
                    .await
                    .map_err(store(Step::ReadDedupe))?,
            ),
            Command::Put {
                row,
                expected,
                marker,
            } => {
                // A fresh writer id per write: the SDK's retry of this very put can recognise
                // its own row, and no other invocation's identical-looking row passes for ours.
                let row = Session {
                    writer: Some(new_writer_id()),
                    ..*row
                };
                let written = match &marker {
                    Some(marker) => self.sessions.put_marked(&row, expected, marker).await,
                    None => self.sessions.put(&row, expected).await,
                };
                match written {
                    Ok(stored) => Observed::Written(Some(stored)),
                    Err(StoreError::Conflict { what }) => {
                        debug!(what, "conditional session write lost; deciding again");
                        Observed::Written(None)
                    }
                    Err(error) => return Err(HandlerError::store(Step::WriteSession, error)),
                }
            }
            Command::EndChat(contact_id) => Observed::EndedChat(
                self.sessions
                    .end_chat(text.key(), &contact_id, self.clock.now())
                    .await
                    .map_err(store(Step::EndSession))?,
            ),
            Command::MarkProcessed(marker) => {
                self.dedupe
                    .mark_processed(&marker.id, marker.contact_id.as_ref(), marker.at)
                    .await
                    .map_err(store(Step::MarkProcessed))?;
                Observed::Marked
            }
            Command::MarkResumed(marker) => {
                self.sessions
                    .mark_resumed(text.key(), &marker)
                    .await
                    .map_err(store(Step::MarkProcessed))?;
                Observed::Marked
            }
            Command::StartChat {
                client_token,
                continue_from,
            } => {
                let request = self.start_request(text, line, client_token, continue_from);
                Observed::Started(
                    self.chat
                        .start_chat(&request)
                        .await
                        .map_err(|e| HandlerError::chat(Step::StartChat, e))?,
                )
            }
            Command::Connect {
                participant_token,
                joining,
            } => {
                match self
                    .chat
                    .create_connection(&participant_token, ConnectionKind::Credentials, joining)
                    .await
                {
                    Ok(connected) => Observed::Connected(connected.connection),
                    Err(ChatError::ChatEnded) => Observed::ChatEnded,
                    Err(error) => return Err(HandlerError::chat(Step::Connect, error)),
                }
            }
            Command::ReadTranscript { token, next_token } => {
                let start = bridge_core::ports::TranscriptStart::Oldest;
                match self
                    .chat
                    .get_transcript(&token, &start, next_token.as_deref())
                    .await
                {
                    Ok(page) => Observed::Page(page),
                    Err(ChatError::ChatEnded) => Observed::ChatEnded,
                    Err(error) => return Err(HandlerError::chat(Step::GetTranscript, error)),
                }
            }
            Command::SendMessage {
                token,
                content,
                client_token,
            } => match self
                .chat
                .send_message(&token, &content, &client_token)
                .await
            {
                Ok(_) => Observed::Accepted,
                Err(ChatError::ChatEnded) => Observed::ChatEnded,
                Err(ChatError::Invalid(cause)) => Observed::Rejected {
                    cause: chain_of(cause.as_ref()).to_string(),
                },
                Err(error) => return Err(HandlerError::chat(Step::SendMessage, error)),
            },
            Command::Disconnect {
                token,
                client_token,
            } => match self.chat.disconnect(&token, &client_token).await {
                Ok(()) => Observed::Accepted,
                Err(ChatError::ChatEnded) => Observed::ChatEnded,
                Err(error) => return Err(HandlerError::chat(Step::Disconnect, error)),
            },
            Command::Reply(reply) => {
                let key = text.key();
                match self.sms.send(&key.customer, &key.support, &reply).await {
                    Ok(id) => Observed::Replied {
                        message_id: id.to_string(),
                    },
                    Err(SmsError::OptedOut) => Observed::ReplyOptedOut,
                    Err(error) => return Err(HandlerError::Sms(error)),
                }
            }
            Command::Sleep { attempt, at_most } => {
                let delay = poll_delay(attempt).min(at_most);
                debug!(
                    delay_ms = delay.as_millis(),
                    "waiting for the chat being started"
                );
                tokio::time::sleep(delay).await;
                Observed::Slept
            }
            // The loop returns before performing a finish.
            Command::Finish(_) => Observed::Failed,
        })
    }

    /// The StartChatContact request for `text`'s first chat on `line`.
    fn start_request(
        &self,
        text: &Text,
        line: &SupportLine,
        client_token: String,
        continue_from: Option<bridge_core::ids::ContactId>,
    ) -> StartChat {
        let first = text.first_part();
        let key = text.key();
        let mut attributes = BTreeMap::from([
            (
                attribute::CUSTOMER_NUMBER.to_owned(),
                key.customer.as_e164().to_owned(),
            ),
            (
                attribute::SUPPORT_NUMBER.to_owned(),
                key.support.as_e164().to_owned(),
            ),
            (
                attribute::CHANNEL.to_owned(),
                attribute::CHANNEL_SMS.to_owned(),
            ),
            (attribute::FIRST_TEXT.to_owned(), first.to_owned()),
        ]);
        if let Some(keyword) = attribute::keyword(first) {
            attributes.insert(attribute::KEYWORD.to_owned(), keyword);
        }
        StartChat {
            instance_id: self.config.connect_instance_id.clone(),
            contact_flow_id: line.contact_flow_id.clone(),
            client_token,
            display_name: self.config.customer_display_name.clone(),
            attributes,
            initial_message: Some(first.to_owned()),
            continue_from,
            duration_minutes: self.config.chat_duration_minutes.map(u32::from),
            // The customer's connection comes with the chat: no CreateParticipantConnection.
            connection: Some(ConnectionKind::Credentials),
        }
    }
}

/// The invocation's error for a failed run: the port's error for [`Failure::Io`].
fn error_of(failure: Failure, failed: Option<HandlerError>) -> HandlerError {
    match failure {
        Failure::Io => failed.unwrap_or(HandlerError::Internal {
            state: "failed without an error",
        }),
        Failure::Contention { decisions } => HandlerError::Contention { decisions },
        Failure::StartPending { waited } => HandlerError::StartPending { waited },
        Failure::MissingCredentials => HandlerError::MissingCredentials,
        Failure::EndedAtOnce => HandlerError::EndedAtOnce,
        Failure::Unexpected { state } => HandlerError::Internal { state },
    }
}

impl From<Handled> for Outcome {
    fn from(handled: Handled) -> Self {
        match handled {
            Handled::Delivered {
                contact_id,
                started,
            } => Self::Delivered {
                contact_id,
                started,
            },
            Handled::Duplicate => Self::Duplicate,
            Handled::Suppressed => Self::Suppressed,
            Handled::Dropped { contact_id } => Self::Dropped {
                contact_id,
                reason: DropReason::RejectedByConnect,
            },
            Handled::OptedOut { ended } => Self::OptedOut { ended },
            Handled::OptedIn => Self::OptedIn,
            Handled::Help => Self::Help,
        }
    }
}
