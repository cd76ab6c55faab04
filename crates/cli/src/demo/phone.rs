//! The demo's phone page: a customer's phone in a browser.
//!
//! `GET /` is one self-contained page (HTML, CSS and JS inline, no build step). Texts typed
//! there go to `POST /api/sms`, which runs the inbound handler in-process exactly as
//! `bridge sms` does; the bridge's SMS replies are read from moto's outbox
//! (`GET /api/conversation`), which the page polls every second.
//!
//! Stable hooks for tests: `#customer`, `#me` (the number shown), `#support`, `#text`, `#send`, `#status`,
//! `#console-link`, and `#thread` holding one `.msg[data-direction=out|in]` per text with
//! a `.body` child. `/?customer=+1555…` preselects the customer's number.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bridge_core::PhoneNumber;
use bridge_inbound::{Handler, Outcome};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tower_http::timeout::TimeoutLayer;

use crate::outbox::Outbox;
use crate::sms::describe;
use crate::stack::typed_sms_event;

/// The page.
pub const PAGE: &str = include_str!("phone.html");
/// A handler call may wait for a chat being started; nothing takes longer than this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Texts remembered per customer (oldest dropped first).
const MAX_TEXTS_PER_CUSTOMER: usize = 200;
/// Customers remembered (a local demo has a handful).
const MAX_CUSTOMERS: usize = 1_000;
/// Outbox ids remembered with the time the demo first saw them.
const MAX_SEEN_SMS: usize = 10_000;

/// One line of a conversation.
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    /// `out`: the customer texted; `in`: the bridge texted the customer.
    pub direction: &'static str,
    /// The text.
    pub body: String,
    /// When the demo sent it (`out`) or first saw it in the outbox (`in`).
    pub at: DateTime<Utc>,
    /// What the bridge did with a customer's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the handler did with a text, for the page and the script.
#[derive(Clone, Debug, Serialize)]
pub struct PhoneResult {
    /// The outcome kind (`delivered`, `rejected`, …).
    pub outcome: String,
    /// A sentence.
    pub description: String,
    /// The chat, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// The handler started that chat.
    pub started: bool,
}

/// The phone: the handler, the outbox, and what was texted so far.
pub struct Phone {
    handler: Arc<Handler>,
    outbox: Outbox,
    support_lines: Vec<PhoneNumber>,
    console_url: String,
    default_customer: PhoneNumber,
    // std Mutexes: held for a few map operations, never across an await.
    texts: Mutex<HashMap<String, VecDeque<Message>>>,
    seen: Mutex<SeenSms>,
}

#[derive(Default)]
struct SeenSms {
    at: HashMap<String, DateTime<Utc>>,
    order: VecDeque<String>,
}

impl Phone {
    /// A phone over the handler and moto's outbox.
    pub fn new(
        handler: Arc<Handler>,
        outbox: Outbox,
        console_url: String,
        default_customer: PhoneNumber,
    ) -> Self {
        let support_lines = handler
            .config()
            .support_lines
            .iter()
            .map(|line| line.number.clone())
            .collect();
        Self {
            handler,
            outbox,
            support_lines,
            console_url,
            default_customer,
            texts: Mutex::new(HashMap::new()),
            seen: Mutex::new(SeenSms::default()),
        }
    }

    /// Texts `body` from `from` to `to` through the handler, and remembers it.
    ///
    /// # Errors
    /// The handler failed (the text may not have reached the chat).
    pub async fn text(
        &self,
        from: &PhoneNumber,
        to: &PhoneNumber,
        body: &str,
    ) -> anyhow::Result<PhoneResult> {
        let event = typed_sms_event(from, to, body);
        let result = self.handler.handle_event(event).await;
        let (sent, note) = match result {
            Ok(summary) => {
                let outcome = summary
                    .records
                    .into_iter()
                    .next()
                    .map(|record| record.outcome)
                    .unwrap_or(Outcome::Duplicate);
                let sent = result_of(&outcome);
                let note = sent.description.clone();
                (Ok(sent), note)
            }
            Err(error) => {
                let error = anyhow::Error::from(error);
                let note = format!("failed: {error:#}");
                (Err(error), note)
            }
        };
        self.remember(
            from,
            Message {
                direction: "out",
                body: body.to_owned(),
                at: Utc::now(),
                note: Some(note),
            },
        );
        sent
    }

    fn remember(&self, customer: &PhoneNumber, message: Message) {
        let Ok(mut texts) = self.texts.lock() else {
            return;
        };
        if texts.len() >= MAX_CUSTOMERS && !texts.contains_key(customer.as_e164()) {
            return;
        }
        let thread = texts.entry(customer.as_e164().to_owned()).or_default();
        if thread.len() >= MAX_TEXTS_PER_CUSTOMER {
            thread.pop_front();
        }
        thread.push_back(message);
    }

    /// The customer's texts and the bridge's SMS to them, in time order.
    ///
    /// # Errors
    /// moto unreachable.
    pub async fn conversation(&self, customer: &PhoneNumber) -> anyhow::Result<Vec<Message>> {
        let sms = self.outbox.fetch_to(customer).await?;
        let now = Utc::now();
        let mut messages: Vec<Message> = match self.texts.lock() {
            Ok(texts) => texts
                .get(customer.as_e164())
                .map(|thread| thread.iter().cloned().collect())
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        if let Ok(mut seen) = self.seen.lock() {
            for sms in sms {
                let at = match seen.at.get(&sms.message_id) {
                    Some(at) => *at,
                    None => {
                        if seen.order.len() >= MAX_SEEN_SMS
                            && let Some(oldest) = seen.order.pop_front()
                        {
                            seen.at.remove(&oldest);
                        }
                        seen.order.push_back(sms.message_id.clone());
                        seen.at.insert(sms.message_id.clone(), now);
                        now
                    }
                };
                messages.push(Message {
                    direction: "in",
                    body: sms.message,
                    at,
                    note: None,
                });
            }
        }
        // Stable: an SMS first seen in the same poll as a text stays after it.
        messages.sort_by_key(|message| message.at);
        Ok(messages)
    }
}

fn result_of(outcome: &Outcome) -> PhoneResult {
    let (contact_id, started) = match outcome {
        Outcome::Delivered {
            contact_id,
            started,
        } => (Some(contact_id.to_string()), *started),
        other => (other.contact_id().map(ToString::to_string), false),
    };
    PhoneResult {
        outcome: outcome.kind().to_owned(),
        description: describe(outcome),
        contact_id,
        started,
    }
}

/// The page's routes.
pub fn router(phone: Arc<Phone>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/config", get(config))
        .route("/api/sms", post(send_sms))
        .route("/api/conversation", get(conversation))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(phone)
}

#[derive(Serialize)]
struct PageConfig {
    support_lines: Vec<String>,
    default_customer: String,
    console_url: String,
}

async fn config(State(phone): State<Arc<Phone>>) -> Json<PageConfig> {
    Json(PageConfig {
        support_lines: phone
            .support_lines
            .iter()
            .map(|number| number.as_e164().to_owned())
            .collect(),
        default_customer: phone.default_customer.as_e164().to_owned(),
        console_url: phone.console_url.clone(),
    })
}

#[derive(Deserialize)]
struct SmsRequest {
    from: String,
    to: String,
    body: String,
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

async fn send_sms(State(phone): State<Arc<Phone>>, Json(request): Json<SmsRequest>) -> Response {
    let from = match PhoneNumber::parse(&request.from) {
        Ok(number) => number,
        Err(error) => return bad_request(format!("your number: {error}")),
    };
    let to = match PhoneNumber::parse(&request.to) {
        Ok(number) => number,
        Err(error) => return bad_request(format!("support line: {error}")),
    };
    if request.body.trim().is_empty() {
        return bad_request("type a text first".to_owned());
    }
    match phone.text(&from, &to, &request.body).await {
        Ok(sent) => Json(sent).into_response(),
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            Json(serde_json::json!({ "error": format!("{error:#}") })),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct ConversationQuery {
    customer: String,
}

async fn conversation(
    State(phone): State<Arc<Phone>>,
    Query(query): Query<ConversationQuery>,
) -> Response {
    let customer = match PhoneNumber::parse(&query.customer) {
        Ok(number) => number,
        Err(error) => return bad_request(format!("customer: {error}")),
    };
    match phone.conversation(&customer).await {
        Ok(messages) => Json(serde_json::json!({ "messages": messages })).into_response(),
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            Json(serde_json::json!({ "error": format!("{error:#}") })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::PAGE;

    #[test]
    fn page_has_the_documented_hooks() {
        for hook in [
            r#"id="customer""#,
            r#"id="me""#,
            r#"id="support""#,
            r#"id="text""#,
            r#"id="send""#,
            r#"id="thread""#,
            r#"id="status""#,
            r#"id="console-link""#,
            "/api/sms",
            "/api/conversation",
            "dataset.direction",
        ] {
            assert!(PAGE.contains(hook), "phone page lacks {hook}");
        }
    }
}
