#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The custom-chat-client recipe end to end with the real AWS SDK clients:
//! StartChatContact → CreateParticipantConnection → GetTranscript → WebSocket (agent join,
//! agent message, own echo, chat.ended) → SendMessage.

mod common;

use aws_sdk_connect::types::{ChatMessage, ParticipantDetails};
use aws_sdk_connectparticipant::types::{ConnectionType, ScanDirection, SortKey};
use common::{ENDED, FLOW, Harness, INSTANCE, JOINED, LEFT, Socket};
use serde_json::json;

#[tokio::test]
async fn custom_client_recipe_works_with_the_real_sdks() {
    let h = Harness::start().await;

    // GIVEN a chat started through the Connect API with an initial message and attributes.
    let started = h
        .connect
        .start_chat_contact()
        .instance_id(INSTANCE)
        .contact_flow_id(FLOW)
        .attributes("customerPhone", "+15550100")
        .participant_details(
            ParticipantDetails::builder()
                .display_name("Ann")
                .build()
                .unwrap(),
        )
        .initial_message(
            ChatMessage::builder()
                .content_type("text/plain")
                .content("I need help")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("StartChatContact");
    let contact_id = started.contact_id().unwrap().to_owned();
    let customer_id = started.participant_id().unwrap().to_owned();
    assert!(started.participant_token().unwrap().len() >= 64);
    assert!(started.continued_from_contact_id().is_none());

    // WHEN the customer connects with both connection types.
    let connection = h
        .participant
        .create_participant_connection()
        .participant_token(started.participant_token().unwrap())
        .r#type(ConnectionType::Websocket)
        .r#type(ConnectionType::ConnectionCredentials)
        .send()
        .await
        .expect("CreateParticipantConnection");
    let websocket = connection.websocket().expect("websocket");
    let url = websocket.url().unwrap();
    assert!(
        url.starts_with("ws://127.0.0.1:"),
        "chatjs only accepts ws://127.0.0.1: ({url})"
    );
    assert_time_format(websocket.connection_expiry().unwrap());
    let credentials = connection.connection_credentials().expect("credentials");
    assert_time_format(credentials.expiry().unwrap());
    let token = credentials.connection_token().unwrap().to_owned();

    // THEN GetTranscript shows the customer's join and initial message.
    let transcript = h
        .participant
        .get_transcript()
        .connection_token(&token)
        .sort_order(SortKey::Ascending)
        .scan_direction(ScanDirection::Backward)
        .send()
        .await
        .expect("GetTranscript");
    assert_eq!(transcript.initial_contact_id(), Some(contact_id.as_str()));
    let items = transcript.transcript();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].content_type(), Some(JOINED));
    assert_eq!(items[1].content(), Some("I need help"));
    assert_eq!(items[1].participant_id(), Some(customer_id.as_str()));
    assert_eq!(items[1].contact_id(), Some(contact_id.as_str()));
    assert_time_format(items[1].absolute_time().unwrap());

    // AND the socket subscribes, answers ping and heartbeat.
    let mut socket = Socket::subscribed(url).await;
    socket.send(json!({"topic": "aws/ping"})).await;
    let ping = socket.next_json().await;
    assert_eq!(ping, json!({"topic": "aws/ping", "statusCode": 200}));
    socket.send(json!({"topic": "aws/heartbeat"})).await;
    assert_eq!(socket.next_json().await, json!({"topic": "aws/heartbeat"}));

    // WHEN the agent joins and writes, THEN the socket receives both, with both contact ids.
    let (status, joined) = h
        .sim_post(
            &format!("/sim/contacts/{contact_id}/agent/join"),
            json!({"DisplayName": "Bob"}),
        )
        .await;
    assert_eq!(status, 200, "{joined}");
    let join_item = socket.next_item().await;
    assert_eq!(join_item["ContentType"], JOINED);
    assert_eq!(join_item["ParticipantRole"], "AGENT");
    assert_eq!(join_item["DisplayName"], "Bob");
    assert_eq!(join_item["Type"], "EVENT");
    let sent = h
        .agent_says(&contact_id, "Hello Ann, how can I help?")
        .await;
    let agent_item = socket.next_item().await;
    assert_eq!(agent_item["Type"], "MESSAGE");
    assert_eq!(agent_item["Content"], "Hello Ann, how can I help?");
    assert_eq!(agent_item["Id"], sent["Id"]);
    assert_eq!(agent_item["AbsoluteTime"], sent["AbsoluteTime"]);
    assert_eq!(agent_item["ContactId"], contact_id.as_str());
    assert_eq!(agent_item["InitialContactId"], contact_id.as_str());

    // WHEN the customer sends a message, THEN the echo carries the SendMessage Id and time.
    let reply = h
        .participant
        .send_message()
        .connection_token(&token)
        .content_type("text/plain")
        .content("My order is late")
        .send()
        .await
        .expect("SendMessage");
    let echo = socket.next_item().await;
    assert_eq!(echo["Id"], reply.id().unwrap());
    assert_eq!(echo["AbsoluteTime"], reply.absolute_time().unwrap());
    assert_eq!(echo["ParticipantRole"], "CUSTOMER");
    let seen_by_agent = h.transcript(&contact_id).await;
    assert!(
        seen_by_agent
            .iter()
            .any(|i| i["Content"] == "My order is late")
    );

    // WHEN the contact is stopped, THEN left events, chat.ended, then a 1000 close.
    h.connect
        .stop_contact()
        .instance_id(INSTANCE)
        .contact_id(&contact_id)
        .send()
        .await
        .expect("StopContact");
    let left = socket.next_item().await;
    assert_eq!(left["ContentType"], LEFT);
    let left_agent = socket.next_item().await;
    assert_eq!(left_agent["ContentType"], LEFT);
    let ended = socket.next_item().await;
    assert_eq!(ended["ContentType"], ENDED);
    let close = socket.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), 1000);

    // AND the chat answers 403 from then on, as the typed SDK error.
    let after = h
        .participant
        .send_message()
        .connection_token(&token)
        .content_type("text/plain")
        .content("anyone?")
        .send()
        .await
        .expect_err("chat ended");
    assert!(after.into_service_error().is_access_denied_exception());
    let contact = h.contact(&contact_id).await;
    assert_eq!(contact["Status"], "ENDED");
    assert_eq!(contact["Attributes"]["customerPhone"], "+15550100");
    assert_eq!(contact["CustomerDisplayName"], "Ann");
    h.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn customer_disconnect_ends_the_chat_for_the_agent_side() {
    let h = Harness::start().await;
    let (contact_id, url, token) = h.connected_chat("Cy").await;
    let mut socket = Socket::subscribed(&url).await;
    h.participant
        .disconnect_participant()
        .connection_token(&token)
        .send()
        .await
        .expect("DisconnectParticipant");
    let left = socket.item_of_type(LEFT).await;
    assert_eq!(left["ParticipantRole"], "CUSTOMER");
    socket.item_of_type(ENDED).await;
    assert_eq!(h.contact(&contact_id).await["Status"], "ENDED");
    let again = h
        .participant
        .disconnect_participant()
        .connection_token(&token)
        .send()
        .await
        .expect_err("already ended");
    assert!(again.into_service_error().is_access_denied_exception());
}

#[tokio::test]
async fn typing_and_read_receipts_reach_the_socket() {
    let h = Harness::start().await;
    let (contact_id, url, token) = h.connected_chat("Di").await;
    let mut socket = Socket::subscribed(&url).await;
    let sent = h.agent_says(&contact_id, "ping").await;
    socket.item_of_type("text/plain").await;
    h.participant
        .send_event()
        .connection_token(&token)
        .content_type(common::TYPING)
        .send()
        .await
        .expect("typing");
    let typing = socket.next_item().await;
    assert_eq!(typing["ContentType"], common::TYPING);
    assert_eq!(typing["Type"], "EVENT");
    let receipt = h
        .participant
        .send_event()
        .connection_token(&token)
        .content_type(common::READ)
        .content(json!({"messageId": sent["Id"]}).to_string())
        .send()
        .await
        .expect("read receipt");
    let metadata = socket.next_item().await;
    assert_eq!(metadata["Type"], "MESSAGEMETADATA");
    assert_eq!(metadata["Id"], receipt.id().unwrap());
    assert_eq!(metadata["MessageMetadata"]["MessageId"], sent["Id"]);
    assert!(metadata["MessageMetadata"]["Receipts"][0]["ReadTimestamp"].is_string());
    let stored = h.transcript(&contact_id).await;
    assert!(
        stored.iter().all(|i| i["ContentType"] != common::TYPING),
        "typing is not stored"
    );
    let message = stored
        .iter()
        .find(|i| i["Id"] == sent["Id"])
        .expect("message");
    assert!(message["MessageMetadata"]["Receipts"][0]["ReadTimestamp"].is_string());
}

fn assert_time_format(text: &str) {
    let bytes = text.as_bytes();
    assert_eq!(bytes.len(), 24, "{text}");
    assert!(text.ends_with('Z') && bytes[19] == b'.', "{text}");
    assert!(chrono_like(text), "{text}");
}

/// `YYYY-MM-DDThh:mm:ss.sssZ` with digits where digits belong.
fn chrono_like(text: &str) -> bool {
    text.char_indices().all(|(i, c)| match i {
        4 | 7 => c == '-',
        10 => c == 'T',
        13 | 16 => c == ':',
        19 => c == '.',
        23 => c == 'Z',
        _ => c.is_ascii_digit(),
    })
}
