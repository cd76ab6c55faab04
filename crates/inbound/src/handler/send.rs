//! Step 5: sending a text into the open chat.
//!
//! Every part goes with a ClientToken derived from the inbound message id
//! ([`Sms::part_token`]), so a retried invocation never duplicates a part Connect already
//! has. A 403 first refreshes the connection with the participant token (the connection
//! token may simply have expired); a 403 after that means the chat is over: the session is
//! marked ended, conditionally on that chat, and the text starts the next chat as its
//! InitialMessage. A one-part text that answers the menu the relay last sent (an
//! interactive message: `2`, `#2` or an option's text) goes in as that option's reply.

use std::sync::atomic::Ordering;

use bridge_core::ids::ContactId;
use bridge_core::ports::{BoxError, ChatError, ConnectionKind};
use bridge_core::session::{self, Decision, OnDenied, Session};
use tracing::{debug, error, info, warn};

use super::{Handler, HandlerError, Next, Sms, Step, record_contact};
use crate::outcome::{DropReason, Outcome};

/// The session's open chat as this invocation holds it.
pub(super) struct Live {
    /// The session as last read or written.
    pub(super) session: Session,
    /// The chat's contact.
    pub(super) contact_id: ContactId,
    /// Whether the connection was already refreshed for this text (the 403 rule allows one).
    pub(super) refreshed: bool,
}

impl Live {
    /// `None` when the session has no chat (a decision only sends to a session with one).
    pub(super) fn new(session: Session) -> Option<Self> {
        let contact_id = session.contact_id()?.clone();
        Some(Self {
            session,
            contact_id,
            refreshed: false,
        })
    }
}

/// How sending one message went.
pub(super) enum Sent {
    /// Connect has it.
    Accepted,
    /// 403 even after a refresh: the chat is over.
    ChatEnded,
    /// 400: Connect will never accept this content.
    Rejected(BoxError),
}

/// What a one-part text answering the menu the relay last sent in this chat goes in as:
/// what Connect's chat widget sends for that choice (`2` → the option's text). `None`:
/// the text goes as written.
fn menu_answer(sms: &Sms, session: &Session) -> Option<String> {
    let [text] = sms.chunks.as_slice() else {
        return None;
    };
    let answer = session.open_menu()?.answer(text)?;
    info!(option = answer.number, "text answers the open menu");
    Some(answer.reply.to_owned())
}

impl Handler {
    /// Sends the text to the session's open chat (decision `Send`).
    pub(super) async fn send(
        &self,
        sms: &Sms,
        session: Session,
        refresh_first: bool,
    ) -> Result<Next, HandlerError> {
        // This very text opened the chat (another delivery of it started the chat, or an
        // earlier attempt did and then failed before its dedupe marker): part 1 is there.
        let opened_the_chat = session.initial_sms.as_ref() == Some(&sms.id);
        if opened_the_chat && sms.chunks.len() == 1 {
            info!("text is already the chat's initial message (a concurrent or earlier delivery)");
            return Ok(Next::Done(Outcome::Duplicate));
        }
        // A long text whose part 1 already went in as a chat's InitialMessage (an earlier
        // attempt started the chat, then failed on a later part) resumes at part 2.
        let from = match sms.initial_marker() {
            _ if opened_the_chat => 1,
            Some(marker) if sms.chunks.len() > 1 => usize::from(self.is_processed(&marker).await?),
            _ => 0,
        };
        self.send_parts(sms, session, from, refresh_first, false)
            .await
    }

    /// Sends parts `from..` of the text, in order, then reports it delivered.
    pub(super) async fn send_parts(
        &self,
        sms: &Sms,
        session: Session,
        from: usize,
        refresh_first: bool,
        started: bool,
    ) -> Result<Next, HandlerError> {
        let Some(mut live) = Live::new(session) else {
            return Ok(Next::Redecide);
        };
        record_contact(&live.contact_id);
        if refresh_first {
            debug!("connection token about to expire; refreshing before sending");
            if !self.refresh(&mut live).await? {
                return self.chat_over(sms, &live).await;
            }
        }
        let parts = sms.chunks.len();
        let answer = menu_answer(sms, &live.session);
        for (index, part) in sms.chunks.iter().enumerate().skip(from) {
            let content = answer.as_deref().unwrap_or(part);
            match self
                .send_message(&mut live, content, &sms.part_token(index))
                .await?
            {
                Sent::Accepted => {}
                Sent::ChatEnded => return self.chat_over(sms, &live).await,
                Sent::Rejected(cause) => {
                    error!(
                        part = index + 1,
                        parts,
                        error = %super::chain_of(cause.as_ref()),
                        "connect rejected the text as invalid; dropped and acknowledged"
                    );
                    return Ok(Next::Done(Outcome::Dropped {
                        contact_id: live.contact_id,
                        reason: DropReason::RejectedByConnect,
                    }));
                }
            }
        }
        debug!(parts, from, "text sent");
        Ok(Next::Done(Outcome::Delivered {
            contact_id: live.contact_id,
            started,
        }))
    }

    /// One SendMessage, with the 403 rule: refresh the connection once and send again.
    pub(super) async fn send_message(
        &self,
        live: &mut Live,
        content: &str,
        client_token: &str,
    ) -> Result<Sent, HandlerError> {
        loop {
            let Some(chat) = live.session.chat.as_ref() else {
                return Ok(Sent::ChatEnded);
            };
            let denied = match self
                .chat
                .send_message(&chat.connection.token, content, client_token)
                .await
            {
                Ok(_) => return Ok(Sent::Accepted),
                Err(ChatError::ChatEnded) => session::on_denied(live.refreshed),
                Err(ChatError::Invalid(cause)) => return Ok(Sent::Rejected(cause)),
                Err(error) => return Err(HandlerError::chat(Step::SendMessage, error)),
            };
            match denied {
                OnDenied::RefreshAndRetry => {
                    debug!("send denied; refreshing the connection once");
                    if !self.refresh(live).await? {
                        return Ok(Sent::ChatEnded);
                    }
                }
                OnDenied::ChatEnded => return Ok(Sent::ChatEnded),
            }
        }
    }

    /// CreateParticipantConnection with the participant token, and the new connection
    /// stored. `Ok(false)` when Connect says the chat is over.
    pub(super) async fn refresh(&self, live: &mut Live) -> Result<bool, HandlerError> {
        live.refreshed = true;
        let Some(chat) = live.session.chat.as_ref() else {
            return Ok(false);
        };
        let connection = match self
            .chat
            .create_connection(&chat.participant_token, ConnectionKind::Credentials, false)
            .await
        {
            Ok(connected) => connected
                .connection
                .ok_or(HandlerError::MissingCredentials)?,
            Err(ChatError::ChatEnded) => return Ok(false),
            Err(error) => return Err(HandlerError::chat(Step::Connect, error)),
        };
        info!(expires_at = %connection.expires_at, "connection refreshed");
        let refreshed = live.session.with_connection(connection, self.clock.now());
        match self
            .put_session(&refreshed, Some(live.session.version))
            .await?
        {
            Some(stored) => live.session = stored,
            // Someone else wrote the session meanwhile; our token is valid all the same
            // (a participant's connection tokens stay valid side by side), so keep using it.
            None => live.session = refreshed,
        }
        Ok(true)
    }

    /// The chat is over (403 after a refresh): mark it ended, conditionally on this contact,
    /// and start the next chat with this text.
    async fn chat_over(&self, sms: &Sms, live: &Live) -> Result<Next, HandlerError> {
        // Once per invocation: a second chat ending under this text (a flow that ends every
        // chat it starts) waits for Lambda's retry instead of starting chat after chat.
        if sms.restarted_after_end.swap(true, Ordering::Relaxed) {
            return Err(HandlerError::EndedAtOnce);
        }
        let now = self.clock.now();
        warn!("chat is over (403 after a refresh); starting the next chat with this text");
        let ended = self
            .sessions
            .end_chat(&sms.key, &live.contact_id, now)
            .await
            .map_err(|e| HandlerError::store(Step::EndSession, e))?;
        let Some(ended) = ended else {
            // Already ended or replaced by another invocation: decide on a fresh read.
            return Ok(Next::Redecide);
        };
        // restart_after_end always plans a start; should that change, a fresh read decides.
        let Decision::Start(plan) =
            session::restart_after_end(&ended, now, self.config.persistent_chat)
        else {
            return Ok(Next::Redecide);
        };
        Ok(Next::Start(plan))
    }
}
