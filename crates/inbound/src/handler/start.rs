//! Step 4: starting a chat, safely under races, retries and crashes.
//!
//! The `starting` row is written conditionally first, so of two first texts racing only one
//! calls StartChatContact; the other waits for `active`. StartChatContact's ClientToken is
//! fixed per generation, so a takeover of a stale `starting` row (its starter presumably
//! dead) gets the *same* chat back if the dead starter's call went through.
//!
//! That replay has one consequence handled here: Connect answers a repeated ClientToken with
//! the original response and ignores the new request's InitialMessage. So when this
//! invocation cannot be sure its own call created the chat (a takeover, or activation lost
//! to someone else), it reads the transcript: if its text is not there, it sends it with
//! SendMessage instead of losing it.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use bridge_core::ids::ConnectionToken;
use bridge_core::ports::{
    ChatError, ConnectionKind, ItemKind, Marker, Role, StartChat, StartedChat, TranscriptStart,
};
use bridge_core::session::{Chat, Session, StartPlan, Status, text_digest};
use tracing::{debug, info, warn};

use super::{Handler, HandlerError, Next, Sms, Step, record_contact};
use crate::outcome::Outcome;

/// Contact attribute names the bridge sets on every chat it starts. Contact flows and agent
/// views read these, so they are part of the bridge's interface: change them deliberately.
pub mod attribute {
    /// The customer's phone number, E.164.
    pub const CUSTOMER_NUMBER: &str = "customerNumber";
    /// The support number the customer texted, E.164.
    pub const SUPPORT_NUMBER: &str = "supportNumber";
    /// The channel the customer uses: always [`CHANNEL_SMS`].
    pub const CHANNEL: &str = "channel";
    /// The value of [`CHANNEL`].
    pub const CHANNEL_SMS: &str = "SMS";
    /// The first text's first word, lowercased, letters and digits only (at most
    /// [`KEYWORD_MAX_CHARS`]), so a flow can route on "billing" or "refund"; absent when
    /// the text has no word.
    pub const KEYWORD: &str = "keyword";
    /// The first text as the chat's InitialMessage carries it: its first part, at most
    /// 1,024 characters (4 KiB of UTF-8), far inside Connect's 32,768 bytes across all of a
    /// contact's attributes.
    pub const FIRST_TEXT: &str = "firstText";
    /// The longest [`KEYWORD`].
    pub const KEYWORD_MAX_CHARS: usize = 64;

    /// The routing keyword of `text` ([`KEYWORD`]): its first word that has a letter or a
    /// digit, lowercased, with everything else dropped.
    pub fn keyword(text: &str) -> Option<String> {
        text.split_whitespace()
            .map(|word| {
                word.chars()
                    .filter(|c| c.is_alphanumeric())
                    .flat_map(char::to_lowercase)
                    .take(KEYWORD_MAX_CHARS)
                    .collect::<String>()
            })
            .find(|word| !word.is_empty())
    }

    #[cfg(test)]
    mod tests {
        use super::keyword;

        #[test]
        fn the_keyword_is_the_first_word_lowercased_without_punctuation() {
            assert_eq!(keyword("Billing: my invoice").as_deref(), Some("billing"));
            assert_eq!(keyword("  REFUND please").as_deref(), Some("refund"));
            assert_eq!(keyword("🙂 #2").as_deref(), Some("2"));
            assert_eq!(keyword("Größe?").as_deref(), Some("größe"));
            assert_eq!(keyword("?! 🙂"), None);
            assert_eq!(keyword(&"a".repeat(100)).map(|k| k.len()), Some(64));
        }
    }
}

/// Transcript pages read when checking whether a replayed start carried our text (a
/// persistent chat's history comes first).
const MAX_TRANSCRIPT_PAGES: usize = 10;

/// What a transcript says about one text ([`Handler::read_transcript`]).
#[derive(Debug, Default)]
struct TranscriptCheck {
    /// The text's first part is among the chat's customer messages.
    found: bool,
    /// The chat's first customer message, when it was seen.
    opening: Option<String>,
}

impl Handler {
    /// Writes the `starting` row, starts the chat, connects the customer, activates the row,
    /// then delivers whatever of the text the InitialMessage did not carry.
    pub(super) async fn start(&self, sms: &Sms, plan: StartPlan) -> Result<Next, HandlerError> {
        // A first start names its text on the row; a takeover keeps the dead starter's.
        let row = if plan.takeover {
            plan.row.clone()
        } else {
            Session {
                starting_sms: Some(sms.id.clone()),
                starting_digest: Some(text_digest(&sms.chunks[0])),
                ..plan.row.clone()
            }
        };
        let Some(starting) = self.put_session(&row, plan.expected_version).await? else {
            return Ok(Next::Redecide);
        };
        // Boxed: the start path's state is the largest of the handler's, and only first
        // texts take it; the resume path's future stays small.
        let result = Box::pin(self.start_on_row(sms, &plan, &starting)).await;
        if result.is_err() {
            self.release_start(&starting).await;
        }
        result
    }

    /// Everything after the `starting` row is ours.
    async fn start_on_row(
        &self,
        sms: &Sms,
        plan: &StartPlan,
        starting: &Session,
    ) -> Result<Next, HandlerError> {
        info!(
            generation = starting.generation,
            takeover = plan.takeover,
            continue_from = plan.continue_from.as_ref().map(tracing::field::display),
            "starting chat"
        );
        let started = self
            .chat
            .start_chat(&self.start_request(sms, plan))
            .await
            .map_err(|e| HandlerError::chat(Step::StartChat, e))?;
        record_contact(&started.contact_id);
        let connection = match started.connected.connection.clone() {
            Some(connection) => connection,
            // StartChatContact answers with the customer's connection (ConnectionTypes), but
            // a replayed start of a chat that has ended may come back without it: ask.
            None => match self
                .chat
                .create_connection(
                    &started.participant_token,
                    ConnectionKind::Credentials,
                    true,
                )
                .await
            {
                Ok(connected) => connected
                    .connection
                    .ok_or(HandlerError::MissingCredentials)?,
                Err(ChatError::ChatEnded) => {
                    return self.ended_at_once(sms, plan, starting, &started).await;
                }
                Err(error) => return Err(HandlerError::chat(Step::Connect, error)),
            },
        };
        let chat = Chat {
            contact_id: started.contact_id.clone(),
            participant_id: started.participant_id.clone(),
            participant_token: started.participant_token.clone(),
            connection,
        };
        // A takeover cannot know whose request created the chat: Connect answers a repeated
        // ClientToken with the original chat and ignores the new InitialMessage. The chat's
        // opening text says: this text's own, or the starter's the row names (by digest),
        // or, when the transcript cannot tell, nobody's (then a retry may repeat a text,
        // which is better than a wrong name, which would lose one).
        let check = if plan.takeover {
            Some(self.read_transcript(&chat, &sms.chunks[0]).await?)
        } else {
            None
        };
        let now = self.clock.now();
        let mut activated = starting.activated(chat.clone(), now);
        activated.initial_sms = match &check {
            None => Some(sms.id.clone()),
            Some(check) => match check.opening.as_deref() {
                Some(opening) if opening == sms.chunks[0] => Some(sms.id.clone()),
                Some(opening)
                    if starting.starting_digest.as_deref() == Some(&text_digest(opening)) =>
                {
                    starting.starting_sms.clone()
                }
                _ => None,
            },
        };
        // A first start activates the chat and marks what its InitialMessage carried in one
        // write: the whole text when it has one part (then the text is done), part 1
        // otherwise. Only if that write wins is the text certainly in the chat.
        let marker = (!plan.takeover)
            .then(|| match sms.chunks.len() {
                1 => Some(sms.id.clone()),
                _ => sms.initial_marker(),
            })
            .flatten()
            .map(|id| Marker {
                id,
                contact_id: Some(chat.contact_id.clone()),
                at: now,
            });
        let written = match &marker {
            Some(marker) => {
                self.put_session_marked(&activated, Some(starting.version), marker)
                    .await?
            }
            None => self.put_session(&activated, Some(starting.version)).await?,
        };
        let (session, won) = match written {
            Some(active) => (Some(active), true),
            // Someone moved the row: a takeover of our (slow) start, which got this same chat
            // back from Connect and may have activated it already.
            None => match self.read_session(&sms.key).await? {
                Some(current)
                    if current.status == Status::Active
                        && current.contact_id() == Some(&chat.contact_id) =>
                {
                    (Some(current), false)
                }
                _ => (None, false),
            },
        };
        // Our InitialMessage is in the chat for sure only when our call created it: a
        // first start (not a takeover) whose row nobody touched in between.
        let initial_delivered = match &check {
            Some(check) => check.found,
            None if won => true,
            None => self.read_transcript(&chat, &sms.chunks[0]).await?.found,
        };
        info!(
            generation = starting.generation,
            initial_delivered, "chat started"
        );
        let marked = won && marker.is_some();
        if marked && sms.chunks.len() == 1 {
            return Ok(Next::Marked(Outcome::Delivered {
                contact_id: chat.contact_id,
                started: true,
            }));
        }
        if initial_delivered && sms.chunks.len() > 1 && !marked {
            self.mark_initial_delivered(sms, &chat).await?;
        }
        match session {
            Some(session) => {
                let from = usize::from(initial_delivered);
                self.send_parts(sms, session, from, false, true).await
            }
            None if initial_delivered && sms.chunks.len() == 1 => {
                Ok(Next::Done(Outcome::Delivered {
                    contact_id: chat.contact_id,
                    started: true,
                }))
            }
            None => Ok(Next::Redecide),
        }
    }

    /// This invocation failed after writing `starting` (it did not crash): backdate the row
    /// so the next attempt, or a text waiting for it, takes it over at once instead of after
    /// the takeover age. Same generation, so the takeover reuses the ClientToken and gets the
    /// chat back if the failed call did create it. Best effort: if the row moved on, so be it.
    async fn release_start(&self, starting: &Session) {
        let released = Session {
            started_at: starting.started_at - self.policy.takeover_after,
            updated_at: self.clock.now(),
            ..starting.clone()
        };
        match self.sessions.put(&released, Some(starting.version)).await {
            Ok(_) => debug!("failed start released for an immediate takeover"),
            Err(error) => debug!(%error, "failed start not released; it is taken over once stale"),
        }
    }

    fn start_request(&self, sms: &Sms, plan: &StartPlan) -> StartChat {
        let mut attributes = BTreeMap::from([
            (
                attribute::CUSTOMER_NUMBER.to_owned(),
                sms.key.customer.as_e164().to_owned(),
            ),
            (
                attribute::SUPPORT_NUMBER.to_owned(),
                sms.key.support.as_e164().to_owned(),
            ),
            (
                attribute::CHANNEL.to_owned(),
                attribute::CHANNEL_SMS.to_owned(),
            ),
            (attribute::FIRST_TEXT.to_owned(), sms.chunks[0].clone()),
        ]);
        if let Some(keyword) = attribute::keyword(&sms.chunks[0]) {
            attributes.insert(attribute::KEYWORD.to_owned(), keyword);
        }
        StartChat {
            instance_id: self.config.connect_instance_id.clone(),
            contact_flow_id: sms.line.contact_flow_id.clone(),
            client_token: plan.client_token.clone(),
            display_name: self.config.customer_display_name.clone(),
            attributes,
            initial_message: sms.chunks.first().cloned(),
            continue_from: plan.continue_from.clone(),
            duration_minutes: self.config.chat_duration_minutes.map(u32::from),
            // The customer's connection comes with the chat: no CreateParticipantConnection.
            connection: Some(ConnectionKind::Credentials),
        }
    }

    /// The chat ended before the customer could even connect: a flow that disconnects at
    /// once, or a replayed start of a chat Connect already closed. Record it as ended so
    /// the next text starts the next generation instead of replaying this one forever.
    async fn ended_at_once(
        &self,
        sms: &Sms,
        plan: &StartPlan,
        starting: &Session,
        started: &StartedChat,
    ) -> Result<Next, HandlerError> {
        warn!("chat ended before the customer connected");
        let ended = Session {
            status: Status::Ended,
            chat: None,
            previous_contact_id: Some(started.contact_id.clone()),
            previous_started_at: Some(starting.started_at),
            updated_at: self.clock.now(),
            ..starting.clone()
        };
        self.put_session(&ended, Some(starting.version)).await?;
        if plan.takeover {
            // A replay: the InitialMessage was someone else's. Ours goes to the next chat.
            return Ok(Next::Redecide);
        }
        if sms.chunks.len() > 1 {
            // Only part 1 reached that chat: the whole text goes to the next one rather
            // than parts 2.. being acknowledged unsent. Once per invocation: a flow that
            // ends every chat (out of hours) must not get a chat per decision.
            if sms.restarted_after_end.swap(true, Ordering::Relaxed) {
                return Err(HandlerError::EndedAtOnce);
            }
            warn!(
                parts = sms.chunks.len(),
                "only the first part reached the chat before it ended; the text goes to the next chat"
            );
            return Ok(Next::Redecide);
        }
        Ok(Next::Done(Outcome::Delivered {
            contact_id: started.contact_id.clone(),
            started: true,
        }))
    }

    /// What the chat's transcript says about this text: whether the customer's `first`
    /// part is in it, and the chat's opening text (its first customer message). Only this
    /// chat's own items count: in a persistent chat the history of past chats
    /// (`RelatedContactId`) may hold the same words from an older text. Bounded in pages;
    /// a chat that ended meanwhile leaves both unknown (not found, no opening).
    async fn read_transcript(
        &self,
        chat: &Chat,
        first: &str,
    ) -> Result<TranscriptCheck, HandlerError> {
        let token: &ConnectionToken = &chat.connection.token;
        let mut check = TranscriptCheck::default();
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_TRANSCRIPT_PAGES {
            let page = match self
                .chat
                .get_transcript(token, &TranscriptStart::Oldest, next_token.as_deref())
                .await
            {
                Ok(page) => page,
                Err(ChatError::ChatEnded) => return Ok(check),
                Err(error) => return Err(HandlerError::chat(Step::GetTranscript, error)),
            };
            let texts = page.items.iter().filter(|item| {
                item.kind == ItemKind::Message
                    && item.role == Some(Role::Customer)
                    && item.related_contact_id.is_none()
                    && item
                        .contact_id
                        .as_ref()
                        .is_none_or(|id| id == &chat.contact_id)
            });
            for content in texts.filter_map(|item| item.content.as_deref()) {
                check.opening.get_or_insert_with(|| content.to_owned());
                check.found |= content == first;
            }
            if check.found {
                return Ok(check);
            }
            match page.next_token {
                Some(next) => next_token = Some(next),
                None => return Ok(check),
            }
        }
        debug!("text not found in the first transcript pages");
        Ok(check)
    }

    /// Records that part 1 went in as the InitialMessage, before the other parts are sent,
    /// so a retry resumes at part 2.
    async fn mark_initial_delivered(&self, sms: &Sms, chat: &Chat) -> Result<(), HandlerError> {
        let Some(marker) = sms.initial_marker() else {
            return Ok(());
        };
        self.dedupe
            .mark_processed(&marker, Some(&chat.contact_id), self.clock.now())
            .await
            .map_err(|e| HandlerError::store(Step::MarkProcessed, e))
    }
}
