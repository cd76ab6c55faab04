//! The SendTextMessage stand-in through the real `aws-sdk-pinpointsmsvoicev2` client, and its
//! delivery events as an SNS endpoint receives them (a local peer recording SNS Query API
//! form posts, as `tests/transcript.rs` records S3 PUTs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_pinpointsmsvoicev2::config::http::HttpResponse;
use aws_sdk_pinpointsmsvoicev2::config::{Credentials, Region};
use aws_sdk_pinpointsmsvoicev2::error::SdkError;
use aws_sdk_pinpointsmsvoicev2::operation::send_text_message::{
    SendTextMessageError, SendTextMessageOutput,
};
use aws_sdk_pinpointsmsvoicev2::types::{
    ConflictExceptionReason, MessageType, ResourceType, ValidationExceptionReason,
};
use common::{Harness, WAIT};
use connect_sim::SimConfig;
use connect_sim::sms::ConfigurationSet;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const TO: &str = "+14255550156";
const FROM: &str = "+12065550152";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:sms-events";

type Client = aws_sdk_pinpointsmsvoicev2::Client;
type SendError = SdkError<SendTextMessageError, HttpResponse>;

/// One form post the SNS peer received.
#[derive(Debug, Clone)]
struct Post {
    form: HashMap<String, String>,
    headers: axum::http::HeaderMap,
}

/// A minimal SNS peer: answers every form post like SNS and hands it to the test.
struct Sns {
    endpoint: String,
    posts: mpsc::UnboundedReceiver<Post>,
}

impl Sns {
    async fn start() -> Self {
        use axum::extract::State;
        let (sender, posts) = mpsc::unbounded_channel();
        let app = axum::Router::new()
            .fallback(
                |State(sender): State<mpsc::UnboundedSender<Post>>,
                 headers: axum::http::HeaderMap,
                 axum::Form(form): axum::Form<HashMap<String, String>>| async move {
                    let action = form.get("Action").cloned().unwrap_or_default();
                    let _ = sender.send(Post { form, headers });
                    format!(
                        "<{action}Response><{action}Result><MessageId>m-1</MessageId>\
                         </{action}Result></{action}Response>"
                    )
                },
            )
            .with_state(sender);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            endpoint: format!("http://{addr}"),
            posts,
        }
    }

    /// `NAME=ENDPOINT|TOPIC` for this peer.
    fn set(&self, name: &str) -> ConfigurationSet {
        format!("{name}={}|{TOPIC}", self.endpoint).parse().unwrap()
    }

    /// The next Publish (CreateTopic and others skipped), within [`WAIT`].
    async fn next_publish(&mut self) -> Post {
        loop {
            let post = tokio::time::timeout(WAIT, self.posts.recv())
                .await
                .expect("a publish within the wait")
                .expect("peer running");
            if post.form.get("Action").map(String::as_str) == Some("Publish") {
                return post;
            }
        }
    }

    /// The next published event, parsed from the Publish's `Message`.
    async fn next_event(&mut self) -> Value {
        let post = self.next_publish().await;
        assert_eq!(post.form["Version"], "2010-03-31");
        assert_eq!(post.form["TopicArn"], TOPIC);
        serde_json::from_str(&post.form["Message"]).expect("the Message is the event JSON")
    }

    /// Publishes received so far, without waiting.
    fn publishes_so_far(&mut self) -> Vec<Post> {
        let mut found = Vec::new();
        while let Ok(post) = self.posts.try_recv() {
            if post.form.get("Action").map(String::as_str) == Some("Publish") {
                found.push(post);
            }
        }
        found
    }
}

async fn sim_with(sets: Vec<ConfigurationSet>) -> (Harness, Client) {
    sim_config(SimConfig {
        sms_configuration_sets: sets,
        ..SimConfig::default()
    })
    .await
}

async fn sim_config(config: SimConfig) -> (Harness, Client) {
    let h = Harness::with(config).await;
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(h.sim.base_url())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(WAIT)
                .connect_timeout(Duration::from_secs(2))
                .build(),
        )
        .load()
        .await;
    let client = Client::new(&sdk);
    (h, client)
}

async fn send(
    client: &Client,
    to: &str,
    body: &str,
    set: Option<&str>,
) -> Result<SendTextMessageOutput, SendError> {
    client
        .send_text_message()
        .destination_phone_number(to)
        .origination_identity(FROM)
        .message_body(body)
        .message_type(MessageType::Transactional)
        .set_configuration_set_name(set.map(str::to_owned))
        .send()
        .await
}

async fn messages(h: &Harness) -> Vec<Value> {
    let (status, body) = h.sim_get("/sim/sms/messages").await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("an array").clone()
}

/// Waits until `/sim/stats` shows `value` for `counter` (counted once SNS answered, a moment
/// after the peer saw the request); returns the stats.
async fn stats_reach(h: &Harness, counter: &str, value: u64) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, stats) = h.sim_get("/sim/stats").await;
        if stats[counter] == value {
            return stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{counter} never reached {value}: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn service_error(error: SendError) -> SendTextMessageError {
    error.into_service_error()
}

#[tokio::test]
async fn a_text_is_accepted_and_listed_with_what_was_asked() {
    // GIVEN a sim with a configuration set without a destination
    let (h, sms) = sim_with(vec!["quiet".parse().unwrap()]).await;
    // WHEN the SDK sends a text with every member the bridge may use
    let out = sms
        .send_text_message()
        .destination_phone_number(TO)
        .origination_identity(FROM)
        .message_body("Your agent replied: hello")
        .message_type(MessageType::Transactional)
        .configuration_set_name("quiet")
        .time_to_live(300)
        .context("contact", "c-1")
        .send()
        .await
        .expect("accepted");
    // THEN it has a MessageId, and the control API lists the text as asked, delivered
    let id = out.message_id().expect("MessageId");
    assert_eq!(uuid::Uuid::parse_str(id).map(|_| ()), Ok(()), "{id}");
    let list = messages(&h).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        list[0],
        json!({
            "MessageId": id,
            "DestinationPhoneNumber": TO,
            "OriginationIdentity": FROM,
            "MessageBody": "Your agent replied: hello",
            "MessageType": "TRANSACTIONAL",
            "ConfigurationSetName": "quiet",
            "Context": {"contact": "c-1"},
            "TimeToLive": 300,
            "FinalEventType": "TEXT_DELIVERED"
        })
    );
    // AND a second one is listed after it
    let second = send(&sms, "+14255550157", "again", None).await.unwrap();
    let list = messages(&h).await;
    let ids: Vec<&str> = list
        .iter()
        .filter_map(|m| m["MessageId"].as_str())
        .collect();
    assert_eq!(ids, [id, second.message_id().unwrap()]);
    assert!(list[1].get("ConfigurationSetName").is_none(), "{}", list[1]);
    let (_, stats) = h.sim_get("/sim/stats").await;
    assert_eq!(stats["SmsMessagesTotal"], 2, "{stats}");
}

#[tokio::test]
async fn bad_inputs_are_typed_validation_exceptions() {
    let (h, sms) = sim_with(Vec::new()).await;
    let too_long = "x".repeat(1601);
    let cases: Vec<(&str, Result<SendTextMessageOutput, SendError>)> = vec![
        ("MessageBody", send(&sms, TO, &too_long, None).await),
        (
            "DestinationPhoneNumber",
            send(&sms, "4255550156", "hi", None).await,
        ),
        (
            "TimeToLive",
            sms.send_text_message()
                .destination_phone_number(TO)
                .message_body("hi")
                .time_to_live(4)
                .send()
                .await,
        ),
        (
            "MessageType",
            sms.send_text_message()
                .destination_phone_number(TO)
                .message_body("hi")
                .message_type(MessageType::from("URGENT"))
                .send()
                .await,
        ),
        (
            "Context",
            (1..=6)
                .fold(
                    sms.send_text_message()
                        .destination_phone_number(TO)
                        .message_body("hi"),
                    |call, n| call.context(format!("k{n}"), "v"),
                )
                .send()
                .await,
        ),
    ];
    for (member, result) in cases {
        let error = service_error(result.expect_err(member));
        let SendTextMessageError::ValidationException(validation) = error else {
            panic!("{member}: expected ValidationException, got {error:?}");
        };
        assert_eq!(
            validation.reason(),
            Some(&ValidationExceptionReason::FieldValidationFailed),
            "{member}"
        );
        let fields: Vec<&str> = validation.fields().iter().map(|f| f.name()).collect();
        assert_eq!(fields, [member]);
    }
    // A missing body is a missing parameter.
    let error = service_error(
        sms.send_text_message()
            .destination_phone_number(TO)
            .send()
            .await
            .expect_err("no body"),
    );
    let SendTextMessageError::ValidationException(validation) = error else {
        panic!("expected ValidationException, got {error:?}");
    };
    assert_eq!(
        validation.reason(),
        Some(&ValidationExceptionReason::MissingParameter)
    );
    // Nothing was sent.
    assert!(messages(&h).await.is_empty());
}

#[tokio::test]
async fn an_unknown_configuration_set_is_not_found() {
    let (h, sms) = sim_with(vec!["known".parse().unwrap()]).await;
    let error = service_error(
        send(&sms, TO, "hi", Some("unknown"))
            .await
            .expect_err("404"),
    );
    let SendTextMessageError::ResourceNotFoundException(missing) = error else {
        panic!("expected ResourceNotFoundException, got {error:?}");
    };
    assert_eq!(
        missing.resource_type(),
        Some(&ResourceType::ConfigurationSet)
    );
    assert_eq!(missing.resource_id(), Some("unknown"));
    // The ARN of a known set names it.
    send(
        &sms,
        TO,
        "hi",
        Some("arn:aws:sms-voice:us-east-1:123456789012:configuration-set/known"),
    )
    .await
    .expect("known by its ARN");
    assert_eq!(messages(&h).await.len(), 1);
}

#[tokio::test]
async fn an_opted_out_number_is_a_conflict_until_it_opts_back_in() {
    let (h, sms) = sim_with(Vec::new()).await;
    let (status, body) = h
        .sim_post(
            "/sim/sms/opt-outs",
            json!({"PhoneNumber": TO, "OptedOut": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"PhoneNumber": TO, "OptedOut": true}));
    let error = service_error(send(&sms, TO, "hi", None).await.expect_err("opted out"));
    let SendTextMessageError::ConflictException(conflict) = error else {
        panic!("expected ConflictException, got {error:?}");
    };
    assert_eq!(
        conflict.reason(),
        Some(&ConflictExceptionReason::DestinationPhoneNumberOptedOut)
    );
    assert_eq!(conflict.resource_id(), Some(TO));
    assert!(messages(&h).await.is_empty());
    // Other numbers are unaffected, and opting back in restores sending.
    send(&sms, "+14255550157", "hi", None)
        .await
        .expect("not opted out");
    h.sim_post(
        "/sim/sms/opt-outs",
        json!({"PhoneNumber": TO, "OptedOut": false}),
    )
    .await;
    send(&sms, TO, "hi", None).await.expect("opted back in");
    assert_eq!(messages(&h).await.len(), 2);
}

#[tokio::test]
async fn a_dry_run_answers_a_message_id_and_sends_nothing() {
    // GIVEN a set whose events go to a recording SNS peer
    let mut sns = Sns::start().await;
    let (h, sms) = sim_with(vec![sns.set("events")]).await;
    // WHEN a dry run is sent through it
    let dry = sms
        .send_text_message()
        .destination_phone_number(TO)
        .message_body("dry")
        .configuration_set_name("events")
        .dry_run(true)
        .send()
        .await
        .expect("validated");
    let dry_id = dry.message_id().expect("a MessageId").to_owned();
    // AND then a real text
    let real = send(&sms, TO, "real", Some("events")).await.unwrap();
    let real_id = real.message_id().unwrap();
    // THEN the events published are the real text's only
    for _ in 0..2 {
        let event = sns.next_event().await;
        assert_eq!(event["messageId"], real_id, "{event}");
    }
    assert!(sns.publishes_so_far().is_empty());
    let list = messages(&h).await;
    let ids: Vec<&str> = list
        .iter()
        .filter_map(|m| m["MessageId"].as_str())
        .collect();
    assert_eq!(ids, [real_id]);
    assert_ne!(dry_id, real_id);
    // AND a dry run is still checked
    let error = sms
        .send_text_message()
        .destination_phone_number("nope")
        .message_body("dry")
        .dry_run(true)
        .send()
        .await
        .expect_err("validated");
    assert!(service_error(error).is_validation_exception());
}

#[tokio::test]
async fn delivery_events_reach_the_topic_successful_then_delivered() {
    // GIVEN a set whose events go to a recording SNS peer, and a 300 ms carrier
    let mut sns = Sns::start().await;
    let (h, sms) = sim_config(SimConfig {
        sms_configuration_sets: vec![sns.set("events")],
        sms_delivery_delay: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await;
    // WHEN a text with context is sent through it
    let out = sms
        .send_text_message()
        .destination_phone_number(TO)
        .origination_identity(FROM)
        .message_body("Hello from your agent")
        .message_type(MessageType::Transactional)
        .configuration_set_name("events")
        .context("contact", "c-1")
        .context("part", "1/1")
        .send()
        .await
        .expect("accepted");
    let id = out.message_id().unwrap();
    // THEN TEXT_SUCCESSFUL is published first, not final
    let first = sns.next_event().await;
    assert_eq!(first["eventType"], "TEXT_SUCCESSFUL", "{first}");
    assert_eq!(first["isFinal"], false);
    assert_eq!(first["messageStatus"], "SUCCESSFUL");
    // AND while the carrier has not answered the text is pending
    let pending = messages(&h).await;
    assert!(pending[0].get("FinalEventType").is_none(), "{}", pending[0]);
    // THEN TEXT_DELIVERED, final, with the request's numbers and context
    let last = sns.next_event().await;
    assert_eq!(last["eventType"], "TEXT_DELIVERED", "{last}");
    assert_eq!(last["isFinal"], true);
    assert_eq!(last["messageStatus"], "DELIVERED");
    assert_eq!(
        last["messageStatusDescription"],
        "Message has been accepted by phone"
    );
    for event in [&first, &last] {
        assert_eq!(event["eventVersion"], "1.0");
        assert_eq!(event["messageId"], id);
        assert_eq!(event["destinationPhoneNumber"], TO);
        assert_eq!(event["originationPhoneNumber"], FROM);
        assert_eq!(event["isoCountryCode"], "US");
        assert_eq!(event["isInternationalSend"], false);
        assert_eq!(event["messageType"], "TRANSACTIONAL");
        assert_eq!(event["messageEncoding"], "GSM");
        assert_eq!(event["totalMessageParts"], 1);
        assert_eq!(event["context"], json!({"contact": "c-1", "part": "1/1"}));
        assert!(
            event["eventTimestamp"].as_i64().unwrap()
                >= event["messageRequestTimestamp"].as_i64().unwrap()
        );
        for member in [
            "mcc",
            "mnc",
            "carrierName",
            "totalMessagePrice",
            "totalCarrierFee",
        ] {
            assert!(event.get(member).is_some(), "{member} missing in {event}");
        }
    }
    assert!(
        last["eventTimestamp"].as_i64().unwrap() - first["eventTimestamp"].as_i64().unwrap() >= 300,
        "the final event waits for the carrier"
    );
    // AND the control API shows the final event
    let list = messages(&h).await;
    assert_eq!(list[0]["FinalEventType"], "TEXT_DELIVERED");
    // AND both were counted as published
    let stats = stats_reach(&h, "SmsEventsPublishedTotal", 2).await;
    assert_eq!(stats["SmsPublishFailuresTotal"], 0, "{stats}");
}

#[tokio::test]
async fn publishes_are_form_posts_scoped_to_the_topics_region_and_account() {
    let mut sns = Sns::start().await;
    let (_h, sms) = sim_with(vec![sns.set("events")]).await;
    send(&sms, TO, "hi", Some("events")).await.unwrap();
    let post = sns.next_publish().await;
    let header = |name: &str| {
        post.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        header("content-type").starts_with("application/x-www-form-urlencoded"),
        "{post:?}"
    );
    assert!(
        header("authorization").contains("/us-east-1/sns/aws4_request"),
        "{post:?}"
    );
    assert_eq!(header("x-moto-account-id"), "123456789012");
}

#[tokio::test]
async fn a_failing_number_gets_its_failure_event_instead() {
    // GIVEN a number the control API marks unreachable at its carrier
    let mut sns = Sns::start().await;
    let (h, sms) = sim_with(vec![sns.set("events")]).await;
    let failing = "+14255550199";
    let (status, body) = h
        .sim_post(
            "/sim/sms/failures",
            json!({"PhoneNumber": failing, "EventType": "TEXT_CARRIER_UNREACHABLE"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // WHEN a text in UCS-2 goes to it
    let out = send(&sms, failing, "Ça marche ✓", Some("events"))
        .await
        .unwrap();
    // THEN it is accepted by the carrier, then fails with that event
    let first = sns.next_event().await;
    assert_eq!(first["eventType"], "TEXT_SUCCESSFUL");
    let last = sns.next_event().await;
    assert_eq!(last["eventType"], "TEXT_CARRIER_UNREACHABLE", "{last}");
    assert_eq!(last["isFinal"], true);
    assert_eq!(last["messageStatus"], "CARRIER_UNREACHABLE");
    assert_eq!(
        last["messageStatusDescription"],
        "Phone carrier is currently unreachable"
    );
    assert_eq!(last["messageEncoding"], "UCS2");
    assert_eq!(last["messageId"], out.message_id().unwrap());
    let list = messages(&h).await;
    assert_eq!(list[0]["FinalEventType"], "TEXT_CARRIER_UNREACHABLE");
    // WHEN the failure is cleared, texts are delivered again
    h.sim_post(
        "/sim/sms/failures",
        json!({"PhoneNumber": failing, "EventType": null}),
    )
    .await;
    send(&sms, failing, "again", Some("events")).await.unwrap();
    assert_eq!(sns.next_event().await["eventType"], "TEXT_SUCCESSFUL");
    assert_eq!(sns.next_event().await["eventType"], "TEXT_DELIVERED");
    // AND the control API refuses what is not a failure
    for bad in [
        json!({"PhoneNumber": failing, "EventType": "TEXT_DELIVERED"}),
        json!({"PhoneNumber": "425", "EventType": "TEXT_SPAM"}),
        json!({"EventType": "TEXT_SPAM"}),
    ] {
        let (status, body) = h.sim_post("/sim/sms/failures", bad).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["__type"], "ValidationException");
    }
}

#[tokio::test]
async fn a_set_without_a_destination_publishes_nothing() {
    // GIVEN one set without a destination and one with
    let mut sns = Sns::start().await;
    let (h, sms) = sim_with(vec!["quiet".parse().unwrap(), sns.set("loud")]).await;
    // WHEN a text goes through the quiet set, then one through the loud set
    let quiet = send(&sms, TO, "quiet", Some("quiet")).await.unwrap();
    let loud = send(&sms, TO, "loud", Some("loud")).await.unwrap();
    // THEN only the loud text's events arrive
    for _ in 0..2 {
        assert_eq!(
            sns.next_event().await["messageId"],
            loud.message_id().unwrap()
        );
    }
    assert!(sns.publishes_so_far().is_empty());
    // AND the quiet text is delivered all the same
    let list = messages(&h).await;
    assert_eq!(list[0]["MessageId"], quiet.message_id().unwrap());
    assert_eq!(list[0]["FinalEventType"], "TEXT_DELIVERED");
}

#[tokio::test]
async fn a_publish_that_fails_is_counted_and_never_fails_the_send() {
    // GIVEN a destination where nothing listens
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let set: ConfigurationSet = format!("events={endpoint}|{TOPIC}").parse().unwrap();
    let (h, sms) = sim_with(vec![set]).await;
    // WHEN a text is sent through it
    send(&sms, TO, "hi", Some("events"))
        .await
        .expect("answered");
    // THEN both events are given up and counted, and the text is still delivered
    let stats = stats_reach(&h, "SmsPublishFailuresTotal", 2).await;
    assert_eq!(stats["SmsEventsPublishedTotal"], 0, "{stats}");
    assert_eq!(messages(&h).await[0]["FinalEventType"], "TEXT_DELIVERED");
}

#[tokio::test]
async fn faults_make_send_text_message_throttle_or_fail() {
    let (h, sms) = sim_with(Vec::new()).await;
    for (status, check) in [
        (
            429,
            SendTextMessageError::is_throttling_exception as fn(&SendTextMessageError) -> bool,
        ),
        (500, SendTextMessageError::is_internal_server_exception),
    ] {
        let (code, body) = h
            .sim_post(
                "/sim/faults",
                json!({"Operation": "SendTextMessage", "Status": status}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        let error = send(&sms, TO, "hi", None).await.expect_err("injected");
        let error = service_error(error);
        assert!(check(&error), "{status}: {error:?}");
    }
    send(&sms, TO, "hi", None).await.expect("faults used up");
    assert_eq!(messages(&h).await.len(), 1);
}

#[tokio::test]
async fn other_targets_and_bodies_are_refused_as_aws_json_errors() {
    let (h, _sms) = sim_with(Vec::new()).await;
    let post = |target: &'static str, body: &'static str| {
        h.http
            .post(h.url("/"))
            .header("x-amz-target", target)
            .header("content-type", "application/x-amz-json-1.0")
            .body(body)
            .send()
    };
    let response = post("PinpointSMSVoiceV2.SendMediaMessage", "{}")
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-amz-json-1.0"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["__type"], "UnknownOperationException");
    let response = post("PinpointSMSVoiceV2.SendTextMessage", "{not json")
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["__type"], "SerializationException");
}

#[tokio::test]
async fn a_reset_forgets_texts_opt_outs_and_failures() {
    let mut sns = Sns::start().await;
    let (h, sms) = sim_with(vec![sns.set("events")]).await;
    send(&sms, TO, "before", None).await.unwrap();
    h.sim_post(
        "/sim/sms/opt-outs",
        json!({"PhoneNumber": TO, "OptedOut": true}),
    )
    .await;
    h.sim_post(
        "/sim/sms/failures",
        json!({"PhoneNumber": "+14255550157", "EventType": "TEXT_SPAM"}),
    )
    .await;
    let (status, _) = h.sim_post("/sim/reset", json!({})).await;
    assert_eq!(status, 200);
    assert!(messages(&h).await.is_empty());
    send(&sms, TO, "after", None)
        .await
        .expect("no longer opted out");
    send(&sms, "+14255550157", "after", Some("events"))
        .await
        .unwrap();
    assert_eq!(sns.next_event().await["eventType"], "TEXT_SUCCESSFUL");
    assert_eq!(sns.next_event().await["eventType"], "TEXT_DELIVERED");
}
