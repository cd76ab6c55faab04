//! The forwarding rule: what one chat item means for the customer's phone.
//!
//! Pure and total. Given an item of the session's chat, [`decide`] says whether to send SMS
//! (and exactly which parts, rendered and segmented by `bridge-core`), to skip it, or that
//! the chat ended. It never looks at sockets or stores; the session worker carries out the
//! [`Action`] in order and moves the cursor.
//!
//! Only AGENT and SYSTEM messages reach the phone; the customer's own messages come back on
//! the socket as echoes and are never sent (ARCHITECTURE.md, "Relay").

use bridge_core::ids::ContactId;
use bridge_core::menu::{self, MenuChange};
use bridge_core::ports::{ItemKind, Role, TranscriptItem};
use bridge_core::render::{markdown_to_sms, normalise_for_gsm};
use bridge_core::segment::{SegmentOptions, segment};

/// Content types of events share this prefix (docs/connect-chat.md §4.2).
const EVENT_PREFIX: &str = "application/vnd.amazonaws.connect.event.";
const INTERACTIVE: &str = "application/vnd.amazonaws.connect.message.interactive";
const TEXT_PLAIN: &str = "text/plain";
const TEXT_MARKDOWN: &str = "text/markdown";
/// Longest attachment name quoted in a notice; the rest is cut (every character is billed).
const MAX_NAME_CHARS: usize = 60;

/// Options of the rule, from configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// Text "You are now chatting with …" when an agent joins.
    pub joined_notice: bool,
    /// Number the parts of a multi-part SMS, "(1/3) ".
    pub numbering: bool,
}

/// What an SMS carries, for metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsKind {
    /// An agent or system message.
    Message,
    /// An interactive message as a numbered menu.
    Menu,
    /// "You are now chatting with …".
    JoinedNotice,
    /// A notice that the agent sent a file.
    AttachmentNotice,
    /// A notice that a message could not be shown as text.
    UnsupportedNotice,
    /// The configured closing text.
    Closing,
    /// The configured idle warning: Connect marked the customer idle.
    IdleWarning,
}

impl SmsKind {
    /// Whether this is a notice of the bridge's own rather than something an agent wrote:
    /// the relay checks the customer has not opted out since it started before sending one.
    pub fn is_notice(self) -> bool {
        matches!(self, Self::JoinedNotice | Self::Closing | Self::IdleWarning)
    }

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Menu => "menu",
            Self::JoinedNotice => "joined_notice",
            Self::AttachmentNotice => "attachment_notice",
            Self::UnsupportedNotice => "unsupported_notice",
            Self::Closing => "closing",
            Self::IdleWarning => "idle_warning",
        }
    }
}

/// Why nothing is sent for an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The customer's own message, echoed back.
    CustomerEcho,
    /// A message from a role that is not forwarded (bot, supervisor, unknown).
    OtherRole,
    /// A message that renders to nothing.
    Empty,
    /// An item of another chat (an earlier contact of a persistent chat).
    OtherChat,
    /// Typing indicator.
    Typing,
    /// Delivered / read receipt.
    Receipt,
    /// Any other event (left, transfer, joined without notice…).
    Event,
}

/// What to do with one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send these parts in order, then record the item as delivered.
    Send {
        /// What the SMS carries.
        sent: SmsKind,
        /// The SMS parts, at least one.
        parts: Vec<String>,
        /// What the item does to the customer's open menu, recorded with the cursor.
        menu: MenuChange,
    },
    /// Nothing for the customer.
    Skip {
        /// Why.
        why: Skip,
        /// The item is stored in the transcript, so the cursor may point at it (typing
        /// events and receipts are not, and GetTranscript could not start from them).
        persisted: bool,
    },
    /// The chat ended.
    End,
    /// Connect marked the customer idle: the chat ends when the disconnect timer runs out,
    /// unless the customer texts. The worker sends the configured warning. The event is
    /// not kept in the transcript, so the cursor may not point at it.
    CustomerIdle,
}

/// Decides what `item` of chat `current` means for the customer.
pub fn decide(item: &TranscriptItem, current: &ContactId, rules: Rules) -> Action {
    // Another chat's item: a different ContactId, or a past chat's (RelatedContactId) in a
    // persistent chat's history, which the customer already had in its own time.
    if item.related_contact_id.is_some()
        || item
            .contact_id
            .as_ref()
            .is_some_and(|contact| contact != current)
    {
        return skip(Skip::OtherChat, false);
    }
    if let Some(event) = item.content_type.strip_prefix(EVENT_PREFIX) {
        return decide_event(event, item, rules);
    }
    match item.kind {
        ItemKind::Message => match item.role {
            Some(Role::Agent | Role::System) => {
                let (sent, text, menu) = render(&item.content_type, item.content.as_deref(), rules);
                send(sent, &text, rules, Skip::Empty, menu)
            }
            Some(Role::Customer) => skip(Skip::CustomerEcho, true),
            _ => skip(Skip::OtherRole, true),
        },
        ItemKind::Attachment => match item.role {
            Some(Role::Agent | Role::System) => send(
                SmsKind::AttachmentNotice,
                &attachment_notice(&item.attachment_names),
                rules,
                Skip::Empty,
                MenuChange::Close,
            ),
            Some(Role::Customer) => skip(Skip::CustomerEcho, true),
            _ => skip(Skip::OtherRole, true),
        },
        ItemKind::Event => skip(Skip::Event, false),
        ItemKind::Other(_) => skip(Skip::Receipt, false),
    }
}

fn decide_event(event: &str, item: &TranscriptItem, rules: Rules) -> Action {
    match event {
        "chat.ended" => Action::End,
        "participant.joined" if rules.joined_notice && item.role == Some(Role::Agent) => {
            let notice = joined_notice(item);
            send(
                SmsKind::JoinedNotice,
                &notice,
                rules,
                Skip::Event,
                MenuChange::Keep,
            )
        }
        "participant.joined" | "participant.left" | "transfer.succeeded" | "transfer.failed" => {
            skip(Skip::Event, true)
        }
        "participant.idle" if item.role == Some(Role::Customer) => Action::CustomerIdle,
        "typing" => skip(Skip::Typing, false),
        "message.delivered" | "message.read" => skip(Skip::Receipt, false),
        // An agent's idle mark, returned, autodisconnection (the chat.ended that follows is
        // what the customer hears of it) and the rest are not kept in transcripts.
        _ => skip(Skip::Event, false),
    }
}

fn skip(why: Skip, persisted: bool) -> Action {
    Action::Skip { why, persisted }
}

/// SMS parts of `text`, and what the item does to the open menu: an agent's or bot's
/// message opens one (an interactive message) or closes the one before it (anything else
/// they write); the bridge's own notices keep it.
fn send(sent: SmsKind, text: &str, rules: Rules, if_empty: Skip, menu: MenuChange) -> Action {
    let parts = sms_parts(text, rules.numbering);
    if parts.is_empty() {
        return skip(if_empty, true);
    }
    Action::Send { sent, parts, menu }
}

/// Normalises `text` for GSM-7 where lossless and cuts it into SMS parts.
pub fn sms_parts(text: &str, numbering: bool) -> Vec<String> {
    let text = text.trim();
    let text = normalise_for_gsm(text);
    segment(&text, &SegmentOptions { numbering }).parts
}

/// Renders a message's content as plain text, by content type, with what it does to the
/// open menu.
fn render(
    content_type: &str,
    content: Option<&str>,
    rules: Rules,
) -> (SmsKind, String, MenuChange) {
    let content = content.unwrap_or_default();
    match content_type {
        TEXT_MARKDOWN => (
            SmsKind::Message,
            markdown_to_sms(content),
            MenuChange::Close,
        ),
        TEXT_PLAIN => (SmsKind::Message, content.to_owned(), MenuChange::Close),
        INTERACTIVE => {
            let options = SegmentOptions {
                numbering: rules.numbering,
            };
            match menu::render(content, &options) {
                Some(rendered) if rendered.options.is_empty() => {
                    (SmsKind::Message, rendered.text, MenuChange::Close)
                }
                Some(rendered) => (
                    SmsKind::Menu,
                    rendered.text,
                    MenuChange::Open(rendered.options),
                ),
                None => (
                    SmsKind::UnsupportedNotice,
                    unsupported_notice(),
                    MenuChange::Close,
                ),
            }
        }
        _ => (
            SmsKind::UnsupportedNotice,
            unsupported_notice(),
            MenuChange::Close,
        ),
    }
}

fn joined_notice(item: &TranscriptItem) -> String {
    let name = item
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map_or_else(
            || "an agent".to_owned(),
            |name| truncate(name, MAX_NAME_CHARS),
        );
    format!("You are now chatting with {name}.")
}

fn attachment_notice(names: &[String]) -> String {
    let names: Vec<String> = names
        .iter()
        .map(|name| truncate(name.trim(), MAX_NAME_CHARS))
        .filter(|name| !name.is_empty())
        .collect();
    if names.is_empty() {
        "The agent sent a file, which cannot be shown by text message.".to_owned()
    } else {
        format!(
            "The agent sent a file ({}), which cannot be shown by text message.",
            names.join(", ")
        )
    }
}

fn unsupported_notice() -> String {
    "The agent sent a message that cannot be shown by text message.".to_owned()
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use bridge_core::ids::ItemId;
    use bridge_core::menu::MenuOption;

    use super::*;

    fn current() -> ContactId {
        ContactId::new("c-1").unwrap()
    }

    fn item(
        kind: ItemKind,
        role: Option<Role>,
        content_type: &str,
        content: Option<&str>,
    ) -> TranscriptItem {
        TranscriptItem {
            id: ItemId::new("i-1").unwrap(),
            kind,
            content_type: content_type.to_owned(),
            content: content.map(str::to_owned),
            role,
            display_name: Some("Ana".to_owned()),
            absolute_time: "2024-01-01T00:00:00.000Z".to_owned(),
            contact_id: Some(current()),
            related_contact_id: None,
            attachment_names: Vec::new(),
        }
    }

    #[test]
    fn a_past_chats_items_are_never_relayed_nor_its_end_taken_for_this_chats() {
        // GIVEN items of a persistent chat's history (RelatedContactId set, no ContactId)
        for past in [
            message(Role::Agent, "text/plain", "refund done"),
            event(Role::System, "chat.ended"),
            event(Role::Agent, "participant.joined"),
        ] {
            let past = TranscriptItem {
                contact_id: None,
                related_contact_id: Some(ContactId::new("c-0").unwrap()),
                ..past
            };
            // THEN none is sent and none ends the current chat
            assert!(
                matches!(
                    decide(&past, &current(), RULES),
                    Action::Skip {
                        why: Skip::OtherChat,
                        ..
                    }
                ),
                "{past:?}"
            );
        }
    }

    fn message(role: Role, content_type: &str, content: &str) -> TranscriptItem {
        item(ItemKind::Message, Some(role), content_type, Some(content))
    }

    fn event(role: Role, name: &str) -> TranscriptItem {
        item(
            ItemKind::Event,
            Some(role),
            &format!("{EVENT_PREFIX}{name}"),
            None,
        )
    }

    const RULES: Rules = Rules {
        joined_notice: true,
        numbering: true,
    };

    #[test]
    fn agent_markdown_is_rendered_to_plain_text() {
        let action = decide(
            &message(
                Role::Agent,
                TEXT_MARKDOWN,
                "**Hello** _there_ [docs](https://x.io)",
            ),
            &current(),
            RULES,
        );
        assert_eq!(
            action,
            Action::Send {
                sent: SmsKind::Message,
                parts: vec!["Hello there docs (https://x.io)".to_owned()],
                menu: MenuChange::Close,
            }
        );
    }

    #[test]
    fn system_messages_are_forwarded_and_customer_echoes_never() {
        let system = decide(
            &message(
                Role::System,
                TEXT_PLAIN,
                "An agent will be with you shortly.",
            ),
            &current(),
            RULES,
        );
        assert!(matches!(
            system,
            Action::Send {
                sent: SmsKind::Message,
                ..
            }
        ));
        let echo = decide(
            &message(Role::Customer, TEXT_PLAIN, "hello"),
            &current(),
            RULES,
        );
        assert_eq!(
            echo,
            Action::Skip {
                why: Skip::CustomerEcho,
                persisted: true
            }
        );
        let bot = decide(
            &message(Role::CustomBot, TEXT_PLAIN, "beep"),
            &current(),
            RULES,
        );
        assert_eq!(
            bot,
            Action::Skip {
                why: Skip::OtherRole,
                persisted: true
            }
        );
    }

    #[test]
    fn only_the_customers_idle_mark_asks_for_the_warning() {
        let customer = decide(
            &event(Role::Customer, "participant.idle"),
            &current(),
            RULES,
        );
        assert_eq!(customer, Action::CustomerIdle);
        for (role, name) in [
            (Role::Agent, "participant.idle"),
            (Role::Customer, "participant.returned"),
            (Role::Agent, "participant.autodisconnection"),
        ] {
            assert_eq!(
                decide(&event(role, name), &current(), RULES),
                Action::Skip {
                    why: Skip::Event,
                    persisted: false
                },
                "{name}"
            );
        }
    }

    #[test]
    fn long_reply_becomes_ordered_numbered_parts() {
        let text = "word ".repeat(100);
        let Action::Send { parts, .. } =
            decide(&message(Role::Agent, TEXT_PLAIN, &text), &current(), RULES)
        else {
            panic!("expected a send");
        };
        assert_eq!(parts.len(), 4);
        for (index, part) in parts.iter().enumerate() {
            assert!(part.starts_with(&format!("({}/4) ", index + 1)), "{part}");
            assert!(part.chars().count() <= 153);
        }
    }

    #[test]
    fn typographic_quotes_are_made_gsm() {
        let Action::Send { parts, .. } = decide(
            &message(Role::Agent, TEXT_PLAIN, "It\u{2019}s done"),
            &current(),
            RULES,
        ) else {
            panic!("expected a send");
        };
        assert_eq!(parts, ["It's done"]);
    }

    #[test]
    fn blank_message_is_skipped_but_persisted() {
        let action = decide(
            &message(Role::Agent, TEXT_PLAIN, "  \n "),
            &current(),
            RULES,
        );
        assert_eq!(
            action,
            Action::Skip {
                why: Skip::Empty,
                persisted: true
            }
        );
    }

    #[test]
    fn agent_join_sends_the_notice_when_configured() {
        let joined = event(Role::Agent, "participant.joined");
        assert_eq!(
            decide(&joined, &current(), RULES),
            Action::Send {
                sent: SmsKind::JoinedNotice,
                parts: vec!["You are now chatting with Ana.".to_owned()],
                menu: MenuChange::Keep,
            }
        );
        let off = Rules {
            joined_notice: false,
            ..RULES
        };
        assert_eq!(
            decide(&joined, &current(), off),
            Action::Skip {
                why: Skip::Event,
                persisted: true
            }
        );
        let customer = event(Role::Customer, "participant.joined");
        assert_eq!(
            decide(&customer, &current(), RULES),
            Action::Skip {
                why: Skip::Event,
                persisted: true
            }
        );
    }

    #[test]
    fn chat_end_is_recognised_whatever_the_type_field_says() {
        assert_eq!(
            decide(&event(Role::System, "chat.ended"), &current(), RULES),
            Action::End
        );
        let mut other_type = event(Role::System, "chat.ended");
        other_type.kind = ItemKind::Other("CHAT_ENDED".to_owned());
        assert_eq!(decide(&other_type, &current(), RULES), Action::End);
    }

    #[test]
    fn typing_and_receipts_are_ignored_and_not_cursor_positions() {
        assert_eq!(
            decide(&event(Role::Agent, "typing"), &current(), RULES),
            Action::Skip {
                why: Skip::Typing,
                persisted: false
            }
        );
        assert_eq!(
            decide(&event(Role::Agent, "message.read"), &current(), RULES),
            Action::Skip {
                why: Skip::Receipt,
                persisted: false
            }
        );
        let metadata = item(ItemKind::Other("MESSAGEMETADATA".into()), None, "", None);
        assert_eq!(
            decide(&metadata, &current(), RULES),
            Action::Skip {
                why: Skip::Receipt,
                persisted: false
            }
        );
    }

    #[test]
    fn attachment_becomes_a_short_notice() {
        let mut attachment = item(
            ItemKind::Attachment,
            Some(Role::Agent),
            "application/pdf",
            None,
        );
        attachment.attachment_names = vec!["invoice.pdf".to_owned()];
        assert_eq!(
            decide(&attachment, &current(), RULES),
            Action::Send {
                sent: SmsKind::AttachmentNotice,
                parts: vec![
                    "The agent sent a file (invoice.pdf), which cannot be shown by text message."
                        .to_owned()
                ],
                menu: MenuChange::Close,
            }
        );
    }

    #[test]
    fn an_interactive_message_opens_a_numbered_menu_and_json_gets_a_notice() {
        let picker = serde_json::json!({
            "templateType": "ListPicker", "version": "1.0",
            "data": {"content": {"title": "Pick one", "elements": [{"title": "Billing"}, {"title": "Sales"}]}}
        });
        let action = decide(
            &message(Role::System, INTERACTIVE, &picker.to_string()),
            &current(),
            RULES,
        );
        let option = |text: &str| MenuOption {
            text: text.to_owned(),
            reply: text.to_owned(),
        };
        assert_eq!(
            action,
            Action::Send {
                sent: SmsKind::Menu,
                parts: vec!["Pick one\n1. Billing\n2. Sales\nReply 1 or 2.".to_owned()],
                menu: MenuChange::Open(vec![option("Billing"), option("Sales")]),
            }
        );
        let json = decide(
            &message(Role::Agent, "application/json", "{}"),
            &current(),
            RULES,
        );
        assert!(matches!(
            json,
            Action::Send {
                sent: SmsKind::UnsupportedNotice,
                menu: MenuChange::Close,
                ..
            }
        ));
    }

    #[test]
    fn an_interactive_message_without_choices_closes_the_menu_before_it() {
        let panel = serde_json::json!({
            "templateType": "Panel", "version": "1.0",
            "data": {"content": {"title": "Thanks!", "elements": []}}
        });
        assert_eq!(
            decide(
                &message(Role::Agent, INTERACTIVE, &panel.to_string()),
                &current(),
                RULES
            ),
            Action::Send {
                sent: SmsKind::Message,
                parts: vec!["Thanks!".to_owned()],
                menu: MenuChange::Close,
            }
        );
    }

    #[test]
    fn items_of_another_chat_are_skipped_without_moving_the_cursor() {
        let mut old = message(Role::Agent, TEXT_PLAIN, "from the last chat");
        old.contact_id = Some(ContactId::new("c-0").unwrap());
        assert_eq!(
            decide(&old, &current(), RULES),
            Action::Skip {
                why: Skip::OtherChat,
                persisted: false
            }
        );
    }
}
