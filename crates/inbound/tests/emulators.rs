//! The inbound handler with the real adapters (`bridge-aws`, real AWS SDK clients) against
//! moto (DynamoDB, SNS) and an in-process connect-sim: issue 5's "Must show" list.
//!
//! Run with `scripts/with-emulators.sh cargo test -p bridge-inbound` (or `make test`):
//! moto comes from `BRIDGE_TEST_MOTO_ENDPOINT`; each test spawns its own connect-sim on
//! port 0 and its own DynamoDB table, and uses fresh phone numbers, so tests sharing one
//! moto never see each other's data. What connect-sim shows is read through its control
//! API (`/sim/...`, `bridge_testkit::SimControl`), as an agent or an operator would see it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sns::SnsEvent;
use bridge_aws::Clients;
use bridge_core::PhoneNumber;
use bridge_core::config::Config;
use bridge_core::ids::{ContactFlowId, ContactId, InboundMessageId, InstanceId, ItemId};
use bridge_core::ports::{ChatApi, DeliveryTag, SessionStore, StartChat};
use bridge_core::session::{Policy, Session, SessionKey, Status, text_digest};
use bridge_inbound::envelope::wrap_in_sns_event;
use bridge_inbound::{
    Handler, HandlerError, Outcome, Ports, ReceiptOutcome, RejectReason, attribute,
};
use bridge_testkit::emulators::{client_settings, local_clients, moto};
use bridge_testkit::fresh::{customer, name as unique};
use bridge_testkit::sim::Contact;
use bridge_testkit::{Endpoints, Moto, SimControl, SimFault, emulator_config, wait};
use chrono::{TimeDelta, Utc};
use connect_sim::{RunningSim, SimConfig};
use serde_json::{Value, json};

const SUPPORT: &str = "+18005550100";
const INSTANCE: &str = "11111111-2222-3333-4444-555555555555";
const FLOW: &str = "22222222-3333-4444-5555-666666666666";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:inbound-sms";

// ---------------------------------------------------------------------------------------
// The stack
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Options {
    persistent: bool,
    sim: Option<SimConfig>,
    policy: Option<Policy>,
    /// More configuration variables.
    vars: Vec<(&'static str, String)>,
}

struct Stack {
    /// Kept for its lifetime: dropping it stops the sim.
    _running: RunningSim,
    /// The sim's control API.
    sim: SimControl,
    store: Arc<dyn SessionStore>,
    /// The chat adapter the handler uses, to play a starter that died mid-start.
    chat: Arc<dyn ChatApi>,
    handler: Arc<Handler>,
    moto: Moto,
}

impl Stack {
    async fn new() -> Self {
        Self::with(Options::default()).await
    }

    async fn with(options: Options) -> Self {
        let moto = moto();
        let running = connect_sim::spawn(options.sim.unwrap_or_default())
            .await
            .unwrap();
        // DynamoDB and SNS in moto, Connect (and End User Messaging) in the sim.
        let endpoints = Endpoints::local(&moto, &moto, &running.base_url());
        let clients = local_clients(&endpoints, &client_settings());
        let table = unique("inbound");
        bridge_aws::dynamo::create_table(&clients.dynamodb, &table)
            .await
            .unwrap();
        let mut vars = BTreeMap::from([
            ("BRIDGE_CONNECT_INSTANCE_ID", INSTANCE.to_owned()),
            ("BRIDGE_SUPPORT_LINES", format!("{SUPPORT}={FLOW}")),
            ("BRIDGE_TABLE_NAME", table.clone()),
            ("BRIDGE_PERSISTENT_CHAT", options.persistent.to_string()),
            (
                "BRIDGE_HELP_TEXT",
                "Text us your question. STOP to opt out.".to_owned(),
            ),
        ]);
        vars.extend(options.vars);
        let config = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
        let ports = Ports::aws(&clients, &config);
        let store = ports.sessions.clone();
        let chat = ports.chat.clone();
        let mut handler = Handler::new(ports, config);
        if let Some(policy) = options.policy {
            handler = handler.with_policy(policy);
        }
        Self {
            sim: SimControl::new(&running.base_url()).unwrap(),
            _running: running,
            store,
            chat,
            handler: Arc::new(handler),
            moto: Moto::new(&moto).unwrap(),
        }
    }

    fn event(&self, id: &str, from: &str, to: &str, body: &str) -> SnsEvent {
        let payload = json!({
            "originationNumber": from,
            "destinationNumber": to,
            "messageKeyword": "KEYWORD_123456789012",
            "messageBody": body,
            "inboundMessageId": id,
            "previousPublishedMessageId": null,
        });
        wrap_in_sns_event(
            &payload.to_string(),
            &format!("sns-{id}"),
            TOPIC,
            Utc::now(),
        )
    }

    /// Handles one SNS event holding one text from `from`, with inbound message id `id`.
    async fn deliver(&self, id: &str, from: &str, body: &str) -> Result<Outcome, HandlerError> {
        self.invoke(self.event(id, from, SUPPORT, body)).await
    }

    /// Handles a new text (fresh inbound message id).
    async fn text(&self, from: &str, body: &str) -> Result<Outcome, HandlerError> {
        self.deliver(&unique("msg"), from, body).await
    }

    async fn invoke(&self, event: SnsEvent) -> Result<Outcome, HandlerError> {
        let summary = self.handler.handle_event(event).await?;
        assert_eq!(summary.records.len(), 1);
        Ok(summary.records.into_iter().next().unwrap().outcome)
    }

    async fn session(&self, from: &str) -> Option<Session> {
        let key = SessionKey::new(
            PhoneNumber::parse(from).unwrap(),
            PhoneNumber::parse(SUPPORT).unwrap(),
        );
        self.store.get(&key).await.unwrap()
    }

    // --- connect-sim control API -------------------------------------------------------

    async fn contacts(&self) -> Vec<Contact> {
        self.sim.contacts().await.unwrap()
    }

    async fn only_contact(&self) -> Contact {
        let contacts = self.contacts().await;
        assert_eq!(contacts.len(), 1, "{contacts:#?}");
        contacts.into_iter().next().unwrap()
    }

    async fn contact(&self, contact_id: &str) -> Contact {
        self.sim.contact(contact_id).await.unwrap()
    }

    /// The customer's messages in this contact (not earlier ones of a persistent chat).
    async fn customer_texts(&self, contact_id: &str) -> Vec<String> {
        self.sim.customer_texts(contact_id).await.unwrap()
    }

    async fn end_contact(&self, contact_id: &str) {
        self.sim.end(contact_id).await.unwrap();
    }

    /// SMS moto accepted for `phone`, in order.
    async fn sms_to(&self, phone: &str) -> Vec<String> {
        self.moto.sms_to(phone).await.unwrap()
    }
}

fn delivered(outcome: &Outcome) -> (String, bool) {
    match outcome {
        Outcome::Delivered {
            contact_id,
            started,
        } => (contact_id.to_string(), *started),
        other => panic!("expected delivered, got {other:?}"),
    }
}

fn long_body(chars: usize) -> String {
    let words = [
        "order ",
        "number ",
        "née ",
        "größe ",
        "🙂 ",
        "спасибо ",
        "谢谢 ",
    ];
    let mut body = String::new();
    let mut n = 0;
    while body.chars().count() < chars {
        body.push_str(words[n % words.len()]);
        n += 1;
    }
    body.chars().take(chars).collect()
}

// ---------------------------------------------------------------------------------------
// Must show
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn first_text_starts_a_chat_and_the_second_lands_in_it() {
    let stack = Stack::new().await;
    let from = customer();

    let (contact_id, started) = delivered(&stack.text(&from, "Where is my parcel?").await.unwrap());

    assert!(started);
    let contact = stack.only_contact().await;
    assert_eq!(contact.contact_id, contact_id);
    assert_eq!(contact.attributes[attribute::CUSTOMER_NUMBER], from);
    assert_eq!(contact.attributes[attribute::SUPPORT_NUMBER], SUPPORT);
    assert_eq!(contact.attributes[attribute::CHANNEL], "SMS");
    assert_eq!(contact.attributes[attribute::KEYWORD], "where");
    assert_eq!(
        contact.attributes[attribute::FIRST_TEXT],
        "Where is my parcel?"
    );
    assert_eq!(
        stack.customer_texts(&contact_id).await,
        ["Where is my parcel?"],
        "the text is the chat's InitialMessage"
    );
    let session = stack.session(&from).await.unwrap();
    assert_eq!(session.status, Status::Active);
    assert_eq!(
        session.contact_id().map(|id| id.to_string()),
        Some(contact_id.clone())
    );

    let (second, started) = delivered(&stack.text(&from, "It was due Monday").await.unwrap());

    assert_eq!((second.as_str(), started), (contact_id.as_str(), false));
    assert_eq!(stack.contacts().await.len(), 1);
    assert_eq!(
        stack.customer_texts(&contact_id).await,
        ["Where is my parcel?", "It was due Monday"]
    );
}

#[tokio::test]
async fn the_same_sns_record_three_times_appears_once() {
    let stack = Stack::new().await;
    let from = customer();
    let (contact_id, _) = delivered(&stack.text(&from, "hello").await.unwrap());
    let id = unique("msg");

    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(stack.deliver(&id, &from, "are you there?").await.unwrap());
    }

    assert!(matches!(outcomes[0], Outcome::Delivered { .. }));
    assert_eq!(outcomes[1..], [Outcome::Duplicate, Outcome::Duplicate]);
    assert_eq!(
        stack.customer_texts(&contact_id).await,
        ["hello", "are you there?"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_first_texts_make_one_chat_with_each_text_once() {
    let stack = Arc::new(Stack::new().await);
    let from = customer();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let stack = stack.clone();
        let from = from.clone();
        tasks.spawn(async move { stack.text(&from, &format!("text {n:02}")).await });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(delivered(&joined.unwrap().unwrap()));
    }

    let contact = stack.only_contact().await;
    let contact_id = contact.contact_id.as_str();
    assert!(outcomes.iter().all(|(id, _)| id == contact_id));
    assert_eq!(outcomes.iter().filter(|(_, started)| *started).count(), 1);
    let mut texts = stack.customer_texts(contact_id).await;
    texts.sort();
    let expected: Vec<_> = (0..20).map(|n| format!("text {n:02}")).collect();
    assert_eq!(texts, expected, "all 20, each exactly once");
}

#[tokio::test]
async fn chat_ended_by_the_agent_next_text_starts_a_new_chat() {
    let stack = Stack::new().await;
    let from = customer();
    let (old, _) = delivered(&stack.text(&from, "first chat").await.unwrap());
    stack.end_contact(&old).await;

    let (new, started) = delivered(&stack.text(&from, "not lost").await.unwrap());

    assert!(started);
    assert_ne!(new, old);
    assert_eq!(stack.customer_texts(&new).await, ["not lost"]);
    let contact = stack.contact(&new).await;
    assert!(
        contact.continued_from_contact_id.is_none(),
        "persistent chat is off"
    );
    let session = stack.session(&from).await.unwrap();
    assert_eq!((session.status, session.generation), (Status::Active, 2));
}

#[tokio::test]
async fn with_persistent_chat_the_new_contact_continues_from_the_ended_one() {
    let stack = Stack::with(Options {
        persistent: true,
        ..Options::default()
    })
    .await;
    let from = customer();
    let (old, _) = delivered(&stack.text(&from, "first chat").await.unwrap());
    stack.end_contact(&old).await;

    let (new, _) = delivered(&stack.text(&from, "second chat").await.unwrap());

    assert_ne!(new, old);
    assert_eq!(
        stack.contact(&new).await.continued_from_contact_id,
        Some(old.clone())
    );
    assert_eq!(stack.customer_texts(&new).await, ["second chat"]);
}

#[tokio::test]
async fn a_takeover_never_takes_an_older_chats_identical_text_for_its_own() {
    // GIVEN persistent chat, and a connect-sim whose FORWARD transcript reads start at the
    // oldest past item (Connect does not document where they start)
    let stack = Stack::with(Options {
        persistent: true,
        sim: Some(SimConfig {
            past_items_forward: true,
            ..SimConfig::default()
        }),
        ..Options::default()
    })
    .await;
    let from = customer();
    // AND a first chat that opened with "yes" and has ended
    let (first, _) = delivered(&stack.text(&from, "yes").await.unwrap());
    stack.end_contact(&first).await;
    // AND a starter of the next chat that wrote its `starting` row for "hello", started
    // the chat (continuing the first) and died before activating it: its row is stale
    let ended = stack.session(&from).await.unwrap();
    let stale = Utc::now() - TimeDelta::minutes(5);
    let starting = Session {
        starting_sms: Some(InboundMessageId::new(unique("dead-starter")).unwrap()),
        starting_digest: Some(text_digest("hello")),
        ..ended.next_generation(stale)
    };
    let starting = stack
        .store
        .put(&starting, Some(ended.version))
        .await
        .unwrap();
    let started = stack
        .chat
        .start_chat(&StartChat {
            instance_id: InstanceId::new(INSTANCE).unwrap(),
            contact_flow_id: ContactFlowId::new(FLOW).unwrap(),
            client_token: starting.key.start_token(starting.generation),
            display_name: "Customer".to_owned(),
            attributes: BTreeMap::new(),
            initial_message: Some("hello".to_owned()),
            continue_from: Some(ContactId::new(first.clone()).unwrap()),
            duration_minutes: None,
            connection: None,
        })
        .await
        .unwrap();

    // WHEN the customer texts "yes" again: a takeover, which gets the dead starter's chat
    // back and must tell from its transcript whether "yes" is already in it
    let (second, started_now) = delivered(&stack.text(&from, "yes").await.unwrap());

    // THEN the takeover found "yes" only among the first chat's items (RelatedContactId),
    // not this chat's, and sent it: nothing is lost
    assert_eq!(second, started.contact_id.as_str());
    assert!(started_now);
    assert_eq!(stack.customer_texts(&second).await, ["hello", "yes"]);
    assert_eq!(
        stack.contact(&second).await.continued_from_contact_id,
        Some(first.clone())
    );
}

#[tokio::test]
async fn expired_connection_token_is_refreshed_and_the_text_delivered() {
    // Tokens live 60 s in this sim; the policy does not refresh ahead of time, so the
    // expired token meets a 403 first (the sim's clock is moved, not waited for).
    let stack = Stack::with(Options {
        sim: Some(SimConfig {
            connection_token_ttl: Duration::from_secs(60),
            ..SimConfig::default()
        }),
        policy: Some(Policy {
            refresh_margin: TimeDelta::zero(),
            ..Policy::default()
        }),
        ..Options::default()
    })
    .await;
    let from = customer();
    let (contact_id, _) = delivered(&stack.text(&from, "before expiry").await.unwrap());
    let before = stack.session(&from).await.unwrap();
    stack
        .sim
        .advance_clock(Duration::from_secs(61))
        .await
        .unwrap();

    let (same, _) = delivered(&stack.text(&from, "after expiry").await.unwrap());

    assert_eq!(same, contact_id, "refreshed, not restarted");
    assert_eq!(
        stack.customer_texts(&contact_id).await,
        ["before expiry", "after expiry"]
    );
    let after = stack.session(&from).await.unwrap();
    let expiry = |session: &Session| session.chat.as_ref().unwrap().connection.expires_at;
    assert!(
        expiry(&after) > expiry(&before),
        "the new connection was stored"
    );
}

#[tokio::test]
async fn send_message_500_fails_the_invocation_and_the_retry_delivers_once() {
    let stack = Stack::new().await;
    let from = customer();
    let (contact_id, _) = delivered(&stack.text(&from, "first").await.unwrap());
    let id = unique("msg");
    // As many 500s as the SDK makes attempts, so the error reaches the handler.
    let attempts = client_settings().max_attempts;
    stack
        .sim
        .add_fault(&SimFault::fail("SendMessage", 500).times(attempts))
        .await
        .unwrap();

    let error = stack.deliver(&id, &from, "second").await.unwrap_err();

    assert!(error.is_retriable(), "{error:?}");
    assert_eq!(error.error_type(), "Retriable.ChatUnavailable");
    assert_eq!(stack.customer_texts(&contact_id).await, ["first"]);
    let retried = stack.deliver(&id, &from, "second").await.unwrap();
    assert!(matches!(retried, Outcome::Delivered { .. }));
    assert_eq!(stack.customer_texts(&contact_id).await, ["first", "second"]);
}

#[tokio::test]
async fn stop_ends_the_chat_with_a_reason_and_holds_texts_until_start() {
    let stack = Stack::new().await;
    let from = customer();
    let (contact_id, _) = delivered(&stack.text(&from, "hello").await.unwrap());

    let stopped = stack.text(&from, "STOP").await.unwrap();

    assert!(matches!(stopped, Outcome::OptedOut { ended: Some(_) }));
    assert_eq!(stack.contact(&contact_id).await.status, "ENDED");
    assert_eq!(
        stack.customer_texts(&contact_id).await,
        ["hello", "Customer opted out of SMS (texted STOP)."]
    );
    assert_eq!(
        stack.text(&from, "one more thing").await.unwrap(),
        Outcome::Suppressed
    );
    assert_eq!(stack.contacts().await.len(), 1, "nothing forwarded");
    assert_eq!(stack.text(&from, "START").await.unwrap(), Outcome::OptedIn);
    let (new, _) = delivered(&stack.text(&from, "back again").await.unwrap());
    assert_ne!(new, contact_id);
    assert_eq!(stack.customer_texts(&new).await, ["back again"]);
}

#[tokio::test]
async fn help_is_answered_by_sms_from_the_support_number() {
    let stack = Stack::new().await;
    let from = customer();

    assert_eq!(stack.text(&from, "HELP").await.unwrap(), Outcome::Help);

    assert_eq!(
        stack.sms_to(&from).await,
        ["Text us your question. STOP to opt out."]
    );
    assert!(stack.contacts().await.is_empty());
}

#[tokio::test]
async fn unknown_number_malformed_json_and_empty_body_are_acknowledged_and_dropped() {
    let stack = Stack::new().await;
    let from = customer();
    let unknown = stack.event(&unique("msg"), &from, "+18005550142", "hello");
    let mut malformed = stack.event(&unique("msg"), &from, SUPPORT, "hello");
    malformed.records[0].sns.message = "{\"originationNumber\": ".to_owned();
    let empty = stack.event(&unique("msg"), &from, SUPPORT, " \n\t ");

    let outcomes = [
        stack.invoke(unknown).await.unwrap(),
        stack.invoke(malformed).await.unwrap(),
        stack.invoke(empty).await.unwrap(),
    ];

    assert_eq!(
        outcomes,
        [
            Outcome::Rejected {
                reason: RejectReason::UnknownSupportNumber
            },
            Outcome::Rejected {
                reason: RejectReason::Malformed {
                    kind: "invalid_json",
                    field: None
                }
            },
            Outcome::Rejected {
                reason: RejectReason::EmptyBody
            },
        ]
    );
    assert!(stack.contacts().await.is_empty());
    assert!(stack.session(&from).await.is_none());
}

#[tokio::test]
async fn a_3000_character_text_arrives_as_ordered_parts_of_at_most_1024() {
    let stack = Stack::new().await;
    let from = customer();
    let body = long_body(3_000);

    let (contact_id, _) = delivered(&stack.text(&from, &body).await.unwrap());

    let parts = stack.customer_texts(&contact_id).await;
    assert!(parts.len() >= 3, "{} parts", parts.len());
    assert!(parts.iter().all(|part| part.chars().count() <= 1024));
    assert_eq!(parts.concat(), body);
}

#[tokio::test]
async fn emoji_and_non_latin_text_arrive_unchanged() {
    let stack = Stack::new().await;
    let from = customer();
    let texts = [
        "Привет! Мой заказ не пришёл 📦",
        "مرحبا، أين طلبي؟ ١٢٣",
        "你好，我的订单在哪里？",
        "👨‍👩‍👧‍👦 family plan 🇨🇦 👍🏽",
        "e\u{301}te\u{301} — café",
    ];

    let (contact_id, _) = delivered(&stack.text(&from, texts[0]).await.unwrap());
    for text in &texts[1..] {
        stack.text(&from, text).await.unwrap();
    }

    assert_eq!(stack.customer_texts(&contact_id).await, texts);
}

// ---------------------------------------------------------------------------------------
// Delivery events (End User Messaging)
// ---------------------------------------------------------------------------------------

/// The delivery events connect-sim published to `topic` on moto for SMS to `customer`,
/// oldest first (moto keeps what a topic was sent: `sent_notifications` in its state dump).
async fn published_events(moto: &Moto, topic: &str, customer: &str) -> Vec<String> {
    moto.dump()
        .await
        .unwrap()
        .notifications(topic)
        .into_iter()
        .filter(|message| {
            serde_json::from_str::<Value>(message)
                .is_ok_and(|event| event["destinationPhoneNumber"] == customer)
        })
        .collect()
}

#[tokio::test]
async fn end_user_messaging_delivery_events_reach_the_agent_side_of_the_chat() {
    let moto = moto();
    let topic = format!(
        "arn:aws:sns:us-east-1:123456789012:{}",
        unique("sms-events")
    );
    let set = format!("bridge={moto}|{topic}").parse().unwrap();
    let stack = Stack::with(Options {
        sim: Some(SimConfig {
            sms_configuration_sets: vec![set],
            ..SimConfig::default()
        }),
        vars: vec![
            ("BRIDGE_SMS_API", "end-user-messaging".to_owned()),
            ("BRIDGE_SMS_CONFIGURATION_SET", "bridge".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    let sim_clients = Clients::new(&emulator_config(stack.sim.base_url()), &client_settings());
    // The relay's sender, as BRIDGE_SMS_API=end-user-messaging builds it.
    let sender = sim_clients.sms_sender(&stack.handler.config().sms_api);
    let support = PhoneNumber::parse(SUPPORT).unwrap();

    for failing in [false, true] {
        // GIVEN a chat, and an agent's reply in it
        let customer = customer();
        if failing {
            stack
                .sim
                .fail_sms_to(&customer, Some("TEXT_CARRIER_UNREACHABLE"))
                .await
                .unwrap();
        }
        let (contact_id, _) = delivered(&stack.text(&customer, "hi").await.unwrap());
        let reply = stack
            .sim
            .say(&contact_id, "Your parcel left today.")
            .await
            .unwrap();
        let item_id = ItemId::new(reply.id).unwrap();
        // WHEN the relay sends it through End User Messaging, tagged
        let tag = DeliveryTag {
            contact_id: ContactId::new(&contact_id).unwrap(),
            item_id: item_id.clone(),
            part: 1,
            parts: 1,
        };
        let phone = PhoneNumber::parse(&customer).unwrap();
        sender
            .send_tagged(&phone, &support, "Your parcel left today.", &tag)
            .await
            .unwrap();
        let sent = stack
            .sim
            .sms_messages()
            .await
            .unwrap()
            .into_iter()
            .find(|sms| sms.destination_phone_number == customer)
            .unwrap();
        assert_eq!(sent.rest["OriginationIdentity"], SUPPORT);
        assert_eq!(sent.rest["MessageType"], "TRANSACTIONAL");
        assert_eq!(sent.rest["ConfigurationSetName"], "bridge");
        assert_eq!(sent.rest["Context"]["bridgeItemId"], item_id.as_str());
        // AND the configuration set's events reach the function through the topic
        let (published, on, to) = (&stack.moto, topic.as_str(), customer.as_str());
        let events = wait::poll_every(
            Duration::from_millis(100),
            "two delivery events on the topic",
            Duration::from_secs(20),
            || async move {
                let events = published_events(published, on, to).await;
                (events.len() >= 2).then_some(events)
            },
        )
        .await;
        let mut outcomes = Vec::new();
        for (n, event) in events.iter().enumerate() {
            let event = wrap_in_sns_event(event, &format!("sns-{n}"), &topic, Utc::now());
            outcomes.push(stack.invoke(event).await.unwrap());
        }

        // THEN the agent's message is marked delivered, or the agent reads why it was not
        let items = stack.sim.transcript(&contact_id).await.unwrap();
        let reply = items
            .iter()
            .find(|item| item.id == item_id.as_str())
            .unwrap();
        let receipts = reply
            .rest
            .get("MessageMetadata")
            .map_or(&Value::Null, |metadata| &metadata["Receipts"]);
        let texts = stack.customer_texts(&contact_id).await;
        if failing {
            assert!(
                matches!(
                    outcomes.last(),
                    Some(Outcome::Receipt(ReceiptOutcome::FailureNoted { .. }))
                ),
                "{outcomes:?}"
            );
            assert!(receipts.is_null(), "{reply:?}");
            assert_eq!(
                texts,
                [
                    "hi",
                    "[SMS bridge] Your last message was not delivered to the customer's \
                     phone: the customer's carrier could not be reached."
                ]
            );
        } else {
            assert_eq!(
                outcomes,
                [
                    Outcome::Receipt(ReceiptOutcome::Ignored),
                    Outcome::Receipt(ReceiptOutcome::Delivered {
                        contact_id: ContactId::new(&contact_id).unwrap()
                    }),
                ]
            );
            assert!(receipts[0]["DeliveredTimestamp"].is_string(), "{reply:?}");
            assert_eq!(texts, ["hi"]);
        }
    }
}
