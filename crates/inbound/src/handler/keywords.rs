//! Step 3: opt-out, opt-in and help keywords.
//!
//! STOP (and its synonyms) ends the open chat, telling the agent why first, and records the
//! opt-out so later texts are not forwarded until START. End User Messaging keeps its own
//! opt-out list and answers STOP itself; the bridge replies only when a text is configured.
//! HELP is answered from the support number with the configured help text.

use bridge_core::ids::ContactId;
use bridge_core::ports::{ChatError, SmsError};
use bridge_core::session::{Session, Status};
use tracing::{debug, info, warn};

use super::send::{Live, Sent};
use super::{Handler, HandlerError, Next, Sms, Step, chain_of, record_contact};
use crate::outcome::Outcome;

/// The longest keyword quoted back to the agent (keywords are short; this bounds a surprise).
const MAX_QUOTED_KEYWORD_CHARS: usize = 32;

impl Handler {
    /// Opt-out: record the opt-out, then end the open chat (if any), reply if configured.
    ///
    /// The opt-out is written *before* the chat is ended: ending it makes the relay send
    /// the closing text, and the relay reads the row before any notice, so it must already
    /// say "opted out" by then. (An agent's reply relayed in the moment between this write
    /// and the disconnect can still go out; End User Messaging's own opt-out list, which
    /// STOP also updates, is what stops it at the carrier.)
    pub(super) async fn opt_out(
        &self,
        sms: &Sms,
        session: Option<Session>,
        end: Option<ContactId>,
    ) -> Result<Next, HandlerError> {
        let now = self.clock.now();
        if let Some(current) = &session
            && current.status == Status::Starting
            && now - current.started_at < self.policy.takeover_after
        {
            // Let the start finish, then end that chat: otherwise it would stay open,
            // unseen, with the customer gone.
            debug!("a chat is being started; waiting for it before opting out");
            return Ok(Next::Wait);
        }
        match (session, &end) {
            (Some(current), Some(contact_id)) => {
                record_contact(contact_id);
                // 1. The opt-out, the chat still open (a retry finds it already written).
                let marked = if current.opted_out {
                    current
                } else {
                    match self
                        .put_session(&current.with_opt_out(true, now), Some(current.version))
                        .await?
                    {
                        Some(marked) => marked,
                        None => return Ok(Next::Redecide),
                    }
                };
                // 2. The agent's note, and the customer leaves (the chat ends).
                self.end_for_opt_out(sms, marked).await?;
                // 3. The row says so; the relay may have marked it ended first.
                self.sessions
                    .end_chat(&sms.key, contact_id, self.clock.now())
                    .await
                    .map_err(|e| HandlerError::store(Step::EndSession, e))?;
            }
            (session, _) => {
                let write = match &session {
                    Some(current) if current.opted_out && !current.status.is_live() => None,
                    Some(current) => Some((
                        Session {
                            status: if current.status.is_live() {
                                Status::Ended
                            } else {
                                current.status
                            },
                            opted_out: true,
                            updated_at: now,
                            ..current.clone()
                        },
                        Some(current.version),
                    )),
                    // Nobody to end, but later texts must still be held back: a row with
                    // no chat yet (generation 0), so the first text after START starts
                    // generation 1.
                    None => Some((
                        Session {
                            status: Status::Ended,
                            generation: 0,
                            opted_out: true,
                            ..Session::first(sms.key.clone(), sms.shard, now)
                        },
                        None,
                    )),
                };
                if let Some((row, expected)) = write
                    && self.put_session(&row, expected).await?.is_none()
                {
                    return Ok(Next::Redecide);
                }
            }
        }
        info!(
            ended = end.as_ref().map(tracing::field::display),
            "customer opted out"
        );
        if let Some(text) = &self.config.opt_out_text {
            self.reply(sms, text).await?;
        }
        Ok(Next::Done(Outcome::OptedOut { ended: end }))
    }

    /// Tells the agent why the chat ends, then ends it as the customer
    /// (DisconnectParticipant).
    async fn end_for_opt_out(&self, sms: &Sms, session: Session) -> Result<(), HandlerError> {
        let Some(mut live) = Live::new(session) else {
            return Ok(());
        };
        let note = opt_out_note(&sms.body);
        match self
            .send_message(&mut live, &note, &format!("{}#opt-out", sms.id))
            .await?
        {
            Sent::Accepted => {}
            Sent::ChatEnded => {
                debug!("chat was already over");
                return Ok(());
            }
            Sent::Rejected(cause) => warn!(
                error = %chain_of(cause.as_ref()),
                "connect rejected the opt-out note; ending the chat without it"
            ),
        }
        let Some(chat) = live.session.chat.as_ref() else {
            return Ok(());
        };
        match self
            .chat
            .disconnect(&chat.connection.token, &format!("{}#disconnect", sms.id))
            .await
        {
            Ok(()) => info!("chat ended because the customer opted out"),
            Err(ChatError::ChatEnded) => debug!("chat was already over"),
            Err(error) => return Err(HandlerError::chat(Step::Disconnect, error)),
        }
        Ok(())
    }

    /// Opt-in (START, or YES while opted out): clear the opt-out, reply if configured.
    pub(super) async fn opt_in(
        &self,
        sms: &Sms,
        session: Option<Session>,
    ) -> Result<Next, HandlerError> {
        if let Some(current) = session.filter(|current| current.opted_out) {
            let cleared = current.with_opt_out(false, self.clock.now());
            if self
                .put_session(&cleared, Some(current.version))
                .await?
                .is_none()
            {
                return Ok(Next::Redecide);
            }
            info!("customer opted back in");
        }
        if let Some(text) = &self.config.opt_in_text {
            self.reply(sms, text).await?;
        }
        Ok(Next::Done(Outcome::OptedIn))
    }

    /// HELP: answer with the configured help text.
    pub(super) async fn help(&self, sms: &Sms) -> Result<Next, HandlerError> {
        self.reply(sms, &self.config.help_text).await?;
        Ok(Next::Done(Outcome::Help))
    }

    /// Sends a keyword reply from the support number the customer texted.
    async fn reply(&self, sms: &Sms, text: &str) -> Result<(), HandlerError> {
        match self
            .sms
            .send(&sms.key.customer, &sms.key.support, text)
            .await
        {
            Ok(id) => info!(sms_message_id = %id, "keyword reply sent"),
            // The carrier / End User Messaging list wins; nothing we can do or should retry.
            Err(SmsError::OptedOut) => warn!("keyword reply not sent: the number is opted out"),
            Err(error) => return Err(HandlerError::Sms(error)),
        }
        Ok(())
    }
}

/// The note the agent sees before an opt-out ends the chat, quoting the keyword.
fn opt_out_note(body: &str) -> String {
    let keyword: String = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
        .chars()
        .take(MAX_QUOTED_KEYWORD_CHARS)
        .collect();
    format!("Customer opted out of SMS (texted {keyword}).")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_out_note_quotes_the_keyword_normalised() {
        assert_eq!(
            opt_out_note("  stop "),
            "Customer opted out of SMS (texted STOP)."
        );
        assert_eq!(
            opt_out_note("opt   out!"),
            "Customer opted out of SMS (texted OPT OUT!)."
        );
    }
}
