//! Domain tests of the inbound handler over the in-memory ports (`bridge-core`'s
//! `test-support`): fast and deterministic, time paused where the handler waits.
//!
//! The ports are wrapped to count calls and to yield to the scheduler before each one, so
//! concurrent invocations really interleave on the single-threaded test runtime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

include!("support/world.rs");

// ---------------------------------------------------------------------------------------
// Start and resume
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn first_text_starts_a_chat_with_the_text_as_initial_message() {
    let world = World::new();
    let customer = "+15550101001";

    let outcome = world
        .text(customer, "Hi, my order #123 is late")
        .await
        .unwrap();

    let (contact_id, started) = delivered(&outcome);
    assert!(started);
    let contact = world.only_contact();
    assert_eq!(contact.contact_id, contact_id);
    assert_eq!(
        contact.request.initial_message.as_deref(),
        Some("Hi, my order #123 is late")
    );
    assert_eq!(contact.customer_texts(), ["Hi, my order #123 is late"]);
    assert_eq!(contact.request.contact_flow_id.as_str(), FLOW);
    assert_eq!(contact.request.instance_id.as_str(), "instance-1");
    assert_eq!(
        contact.request.client_token,
        world.key(customer).start_token(1)
    );
    assert_eq!(contact.request.continue_from, None);
    assert_eq!(
        contact.request.attributes,
        BTreeMap::from([
            (attribute::CUSTOMER_NUMBER.to_owned(), customer.to_owned()),
            (attribute::SUPPORT_NUMBER.to_owned(), SUPPORT.to_owned()),
            (attribute::CHANNEL.to_owned(), "SMS".to_owned()),
            (
                attribute::FIRST_TEXT.to_owned(),
                "Hi, my order #123 is late".to_owned()
            ),
            (attribute::KEYWORD.to_owned(), "hi".to_owned()),
        ])
    );
    assert!(contact.customer_connected, "ConnectParticipant was set");
    let session = world.session(customer).await.unwrap();
    assert_eq!(session.status, Status::Active);
    assert_eq!(session.generation, 1);
    assert_eq!(session.contact_id(), Some(&contact_id));
    assert_eq!(
        session.shard,
        world
            .key(customer)
            .shard(world.handler.config().shard_count)
    );
    assert_eq!(
        world.chat.calls(ChatOp::SendMessage),
        0,
        "the text went as InitialMessage"
    );
}

#[tokio::test]
async fn second_text_lands_in_the_same_chat_with_three_store_calls() {
    let world = World::new();
    let customer = "+15550101002";
    let (first_contact, _) = delivered(&world.text(customer, "first").await.unwrap());
    world.store.reset_counts();

    let (second_contact, started) = delivered(&world.text(customer, "second").await.unwrap());

    assert_eq!(first_contact, second_contact);
    assert!(!started);
    assert_eq!(world.only_contact().customer_texts(), ["first", "second"]);
    // The resume path: one read of the session and the dedupe marker, SendMessage, marker.
    assert_eq!(world.store.reads(), 1);
    assert_eq!(world.store.writes(), 1);
    assert_eq!(world.chat.calls(ChatOp::SendMessage), 1);
    assert_eq!(
        world.chat.calls(ChatOp::CreateConnection),
        0,
        "the first text's connection came with the chat; no refresh needed"
    );
}

#[tokio::test]
async fn a_resumed_text_is_the_sessions_latest_activity() {
    // GIVEN a chat whose row was last written when it started
    let world = World::new();
    let customer = "+15550101012";
    world.text(customer, "first").await.unwrap();
    let started = world.session(customer).await.unwrap();

    // WHEN the customer texts again ten minutes later
    world.clock.advance(chrono::TimeDelta::minutes(10));
    world.text(customer, "still there?").await.unwrap();

    // THEN the row says so (the relay reconnects the most recently active chats first),
    // and nothing else about the session changed
    let resumed = world.session(customer).await.unwrap();
    assert_eq!(resumed.updated_at, world.clock.now());
    assert_eq!(
        resumed,
        Session {
            updated_at: world.clock.now(),
            ..started
        }
    );
}

#[tokio::test]
async fn the_same_record_three_times_is_delivered_once() {
    let world = World::new();
    let customer = "+15550101003";
    world.text(customer, "opening").await.unwrap();
    let id = world.id();

    let outcomes = [
        world
            .deliver(&id, customer, "only once please")
            .await
            .unwrap(),
        world
            .deliver(&id, customer, "only once please")
            .await
            .unwrap(),
        world
            .deliver(&id, customer, "only once please")
            .await
            .unwrap(),
    ];

    assert!(matches!(outcomes[0], Outcome::Delivered { .. }));
    assert_eq!(outcomes[1], Outcome::Duplicate);
    assert_eq!(outcomes[2], Outcome::Duplicate);
    assert_eq!(
        world.only_contact().customer_texts(),
        ["opening", "only once please"]
    );
}

#[tokio::test]
async fn the_same_first_text_three_times_starts_one_chat() {
    let world = World::new();
    let customer = "+15550101013";
    let id = world.id();
    for _ in 0..3 {
        world.deliver(&id, customer, "hello?").await.unwrap();
    }
    assert_eq!(world.only_contact().customer_texts(), ["hello?"]);
}

#[tokio::test(start_paused = true)]
async fn twenty_concurrent_first_texts_make_one_chat_with_every_text_once() {
    let world = Arc::new(World::new());
    let customer = "+15550101004";
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let world = world.clone();
        tasks.spawn(async move {
            let id = world.id();
            world
                .deliver(&id, customer, &format!("text number {n}"))
                .await
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.unwrap().unwrap());
    }

    let contact = world.only_contact();
    let contacts: Vec<_> = outcomes.iter().map(delivered).collect();
    assert!(contacts.iter().all(|(id, _)| id == &contact.contact_id));
    assert_eq!(contacts.iter().filter(|(_, started)| *started).count(), 1);
    let mut texts = contact.customer_texts();
    texts.sort();
    let mut expected: Vec<_> = (0..20).map(|n| format!("text number {n}")).collect();
    expected.sort();
    assert_eq!(texts, expected, "every text exactly once");
    // They really raced: every text tried the conditional create (19 lost), plus the
    // winner's activation. Run one after another, only the first would have written.
    assert!(world.store.puts.load(Ordering::SeqCst) >= 21);
    assert_eq!(
        world.chat.calls(ChatOp::StartChat),
        1,
        "one winner called StartChatContact"
    );
}

#[tokio::test(start_paused = true)]
async fn the_same_first_text_delivered_twice_at_once_appears_once() {
    let world = Arc::new(World::new());
    let customer = "+15550101014";
    let id = world.id();
    let twice: Vec<_> = (0..2)
        .map(|_| {
            let (world, id) = (world.clone(), id.clone());
            tokio::spawn(async move { world.deliver(&id, customer, "first words").await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in twice {
        outcomes.push(task.await.unwrap().unwrap());
    }

    assert!(outcomes.contains(&Outcome::Duplicate), "{outcomes:?}");
    assert_eq!(world.only_contact().customer_texts(), ["first words"]);
}

#[tokio::test(start_paused = true)]
async fn a_chat_that_never_becomes_active_fails_retriably_after_the_bounded_wait() {
    let world = World::new();
    let customer = "+15550101005";
    let now = world.clock.now();
    world
        .store
        .inner
        .put(&Session::first(world.key(customer), 0, now), None)
        .await
        .unwrap();
    let started = tokio::time::Instant::now();

    let error = world.text(customer, "anyone there?").await.unwrap_err();

    assert!(
        matches!(error, HandlerError::StartPending { .. }),
        "{error:?}"
    );
    assert!(error.is_retriable());
    assert_eq!(error.error_type(), "Retriable.StartPending");
    let waited = started.elapsed();
    assert!(
        waited >= world.handler.config().wait_for_start,
        "{waited:?}"
    );
    assert!(
        waited < world.handler.config().wait_for_start * 2,
        "{waited:?}"
    );
    assert!(world.contacts().is_empty());
}

// ---------------------------------------------------------------------------------------
// Ended chats, expiry, 403
// ---------------------------------------------------------------------------------------

/// The relay stored a numbered menu (an interactive message) for the customer's chat.
async fn open_menu(world: &World, customer: &str, contact: &ContactId, options: &[&str]) {
    let session = world.session(customer).await.unwrap();
    let options = options
        .iter()
        .map(|text| MenuOption {
            text: (*text).to_owned(),
            reply: (*text).to_owned(),
        })
        .collect();
    assert!(
        world
            .store
            .advance_cursor_and_menu(
                &session.key,
                contact,
                &ItemId::new("menu-item").unwrap(),
                &MenuChange::Open(options),
                world.clock.now(),
            )
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_number_answering_the_open_menu_goes_in_as_its_option_with_no_extra_call() {
    // GIVEN a chat whose agent sent a menu
    let world = World::new();
    let customer = "+15550101031";
    let (contact, _) = delivered(&world.text(customer, "hi").await.unwrap());
    open_menu(&world, customer, &contact, &["Billing", "Sales"]).await;
    world.store.reset_counts();

    // WHEN the customer answers "2", then "#1", then writes something else
    for text in ["2", "#1", "3", "sales please"] {
        delivered(&world.text(customer, text).await.unwrap());
    }

    // THEN the chat gets the options' texts, and other texts as written
    assert_eq!(
        world.chat.contact(&contact).unwrap().customer_texts(),
        ["hi", "Sales", "Billing", "3", "sales please"]
    );
    // The menu came with the session read: one read and one write per text, as ever.
    assert_eq!(world.store.reads(), 4);
    assert_eq!(world.store.writes(), 4);
    assert_eq!(world.chat.calls(ChatOp::SendMessage), 4);
}

#[tokio::test]
async fn the_menu_of_an_ended_chat_answers_nothing_in_the_next() {
    let world = World::new();
    let customer = "+15550101032";
    let (old, _) = delivered(&world.text(customer, "hi").await.unwrap());
    open_menu(&world, customer, &old, &["Billing", "Sales"]).await;
    world.chat.end_contact(&old);

    let (new, started) = delivered(&world.text(customer, "2").await.unwrap());

    assert!(started);
    assert_eq!(world.chat.contact(&new).unwrap().customer_texts(), ["2"]);
    // And in the new chat, the old menu is stale.
    delivered(&world.text(customer, "1").await.unwrap());
    assert_eq!(
        world.chat.contact(&new).unwrap().customer_texts(),
        ["2", "1"]
    );
}

#[tokio::test]
async fn chat_ended_by_the_agent_next_text_starts_a_new_chat_with_it() {
    let world = World::new();
    let customer = "+15550101006";
    let (old, _) = delivered(&world.text(customer, "first chat").await.unwrap());
    world.chat.end_contact(&old);

    let (new, started) = delivered(&world.text(customer, "are you still there?").await.unwrap());

    assert_ne!(new, old);
    assert!(started);
    let contact = world.chat.contact(&new).unwrap();
    assert_eq!(
        contact.request.initial_message.as_deref(),
        Some("are you still there?")
    );
    assert_eq!(contact.customer_texts(), ["are you still there?"]);
    assert_eq!(
        contact.request.continue_from, None,
        "persistent chat is off"
    );
    let session = world.session(customer).await.unwrap();
    assert_eq!((session.status, session.generation), (Status::Active, 2));
    assert_eq!(session.previous_contact_id, Some(old.clone()));
    assert_eq!(
        world.chat.contact(&old).unwrap().customer_texts(),
        ["first chat"]
    );
    // 403, then one refresh (403 again) on the old chat; each chat's own connection came
    // with StartChatContact.
    assert_eq!(world.chat.calls(ChatOp::SendMessage), 1);
    assert_eq!(world.chat.calls(ChatOp::CreateConnection), 1);
}

#[tokio::test]
async fn with_persistent_chat_the_new_chat_continues_from_the_ended_one() {
    let world = World::with(Options {
        persistent: true,
        ..Options::default()
    });
    let customer = "+15550101007";
    let (old, _) = delivered(&world.text(customer, "first chat").await.unwrap());
    world.chat.end_contact(&old);

    let (new, _) = delivered(&world.text(customer, "back again").await.unwrap());

    let contact = world.chat.contact(&new).unwrap();
    assert_eq!(contact.request.continue_from, Some(old.clone()));
    assert_eq!(contact.continued_from, Some(old));
    assert_eq!(contact.customer_texts(), ["back again"]);
}

#[tokio::test]
async fn session_marked_ended_by_the_relay_starts_the_next_chat_directly() {
    let world = World::with(Options {
        persistent: true,
        ..Options::default()
    });
    let customer = "+15550101008";
    let (old, _) = delivered(&world.text(customer, "first chat").await.unwrap());
    world.chat.end_contact(&old);
    let now = world.clock.now();
    world
        .store
        .inner
        .end_chat(&world.key(customer), &old, now)
        .await
        .unwrap()
        .unwrap();

    let (new, started) = delivered(&world.text(customer, "new question").await.unwrap());

    assert!(started && new != old);
    assert_eq!(
        world.chat.calls(ChatOp::SendMessage),
        0,
        "no 403 round trip"
    );
    assert_eq!(world.chat.contact(&new).unwrap().continued_from, Some(old));
}

#[tokio::test]
async fn connection_about_to_expire_is_refreshed_before_sending() {
    let world = World::new();
    let customer = "+15550101009";
    let (contact_id, _) = delivered(&world.text(customer, "first").await.unwrap());
    let before = world.session(customer).await.unwrap();
    world
        .clock
        .advance(TimeDelta::days(1) + TimeDelta::seconds(1));

    let (same, _) = delivered(&world.text(customer, "a day later").await.unwrap());

    assert_eq!(same, contact_id);
    assert_eq!(world.chat.calls(ChatOp::CreateConnection), 1, "one refresh");
    assert_eq!(
        world.chat.calls(ChatOp::SendMessage),
        1,
        "no 403 on the way"
    );
    let after = world.session(customer).await.unwrap();
    let expiry = |session: &Session| session.chat.as_ref().unwrap().connection.expires_at;
    assert!(expiry(&after) > expiry(&before));
    assert_eq!(
        world.only_contact().customer_texts(),
        ["first", "a day later"]
    );
}

#[tokio::test]
async fn expired_connection_403_is_refreshed_once_and_the_text_delivered() {
    // A negative margin: Connect expires the token a minute before we would refresh it
    // (clock skew), so the send meets a 403 instead of a proactive refresh.
    let world = World::with(Options {
        refresh_margin: Some(TimeDelta::minutes(-1)),
        ..Options::default()
    });
    let customer = "+15550101010";
    world.text(customer, "first").await.unwrap();
    world.clock.advance(TimeDelta::days(1));

    world.text(customer, "after expiry").await.unwrap();

    assert_eq!(
        world.chat.calls(ChatOp::SendMessage),
        2,
        "403, then delivered"
    );
    assert_eq!(world.chat.calls(ChatOp::CreateConnection), 1, "one refresh");
    assert_eq!(
        world.only_contact().customer_texts(),
        ["first", "after expiry"]
    );
}

#[tokio::test]
async fn one_403_is_cured_by_a_refresh() {
    let world = World::new();
    let customer = "+15550101011";
    let (contact_id, _) = delivered(&world.text(customer, "first").await.unwrap());
    world.chat.fail_next(ChatOp::SendMessage, Failure::Denied);

    let (same, started) = delivered(&world.text(customer, "second").await.unwrap());

    assert_eq!((same, started), (contact_id, false));
    assert_eq!(world.only_contact().customer_texts(), ["first", "second"]);
}

#[tokio::test]
async fn a_chat_its_flow_ends_at_once_takes_the_next_text_to_a_new_chat() {
    // GIVEN a contact flow that disconnects the chat as soon as it starts
    let world = World::new();
    let customer = "+15550101012";
    world.chat.end_next_chat_at_once();

    // WHEN the first text starts it, and the customer texts again
    let (first, started) = delivered(&world.text(customer, "out of hours?").await.unwrap());
    let (second, _) = delivered(&world.text(customer, "hello again").await.unwrap());

    // THEN the first text is that chat's InitialMessage, and the next text opens the
    // next generation's chat
    assert!(started);
    assert_eq!(
        world.chat.contact(&first).unwrap().customer_texts(),
        ["out of hours?"]
    );
    assert_ne!(first, second, "the next text starts the next generation");
    assert_eq!(
        world.chat.contact(&second).unwrap().customer_texts(),
        ["hello again"]
    );
    assert_eq!(world.session(customer).await.unwrap().generation, 2);
}

#[tokio::test]
async fn a_long_first_text_whose_chat_ends_at_once_reaches_the_next_chat_whole() {
    // GIVEN a 2,500-character first text (three parts) and a flow that ends its chat at once
    let world = World::new();
    let customer = "+15550101013";
    let body = long_body(2_500);
    world.chat.end_next_chat_at_once();

    // WHEN it is handled
    let (contact, started) = delivered(&world.text(customer, &body).await.unwrap());

    // THEN only part 1 reached the ended chat, and the next chat has the whole text, in
    // order: nothing was acknowledged unsent
    assert!(started);
    let chats = world.chat.contacts();
    assert_eq!(chats.len(), 2, "{chats:#?}");
    assert_eq!(chats[0].customer_texts().len(), 1);
    assert_eq!(chats[1].contact_id, contact);
    assert_eq!(chats[1].customer_texts().concat(), body);
}

#[tokio::test]
async fn a_flow_that_ends_every_chat_gets_two_chats_of_a_long_text_then_a_retry() {
    // GIVEN a flow that ends every chat as soon as it starts (out of hours)
    let world = World::new();
    let customer = "+15550101015";
    for _ in 0..10 {
        world.chat.end_next_chat_at_once();
    }
    // WHEN a long first text arrives
    let error = world.text(customer, &long_body(2_500)).await.unwrap_err();
    // THEN it starts the chat and one more, then fails so Lambda retries it later,
    // rather than start a chat per decision
    assert_eq!(error.error_type(), "Retriable.EndedAtOnce");
    assert_eq!(world.chat.calls(ChatOp::StartChat), 2);
}

#[tokio::test]
async fn a_retried_start_whose_chat_ended_meanwhile_takes_the_text_to_a_new_chat() {
    // GIVEN a first text whose StartChatContact went through but whose answer was lost, and
    // whose chat the agent ended before Lambda's retry
    let world = World::new();
    let customer = "+15550101014";
    let id = world.id();
    world
        .chat
        .fail_next_after_effect(ChatOp::StartChat, Failure::Transient);
    let error = world
        .deliver(&id, customer, "still there?")
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "Retriable.ChatUnavailable");
    let lost = world.only_contact().contact_id;
    world.chat.end_contact(&lost);

    // WHEN the retry replays the start (Connect answers without a connection for an ended
    // chat, so the handler asks CreateParticipantConnection, which answers 403)
    let (contact, started) =
        delivered(&world.deliver(&id, customer, "still there?").await.unwrap());

    // THEN the text opens the next chat
    assert!(started);
    assert_ne!(contact, lost);
    assert_eq!(
        world.chat.contact(&contact).unwrap().customer_texts(),
        ["still there?"]
    );
    assert_eq!(world.chat.calls(ChatOp::CreateConnection), 1);
    let session = world.session(customer).await.unwrap();
    assert_eq!((session.status, session.generation), (Status::Active, 2));
}

// ---------------------------------------------------------------------------------------
// Failures: retriable, poison, misconfiguration
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn send_message_500_fails_retriably_then_the_retry_delivers_once() {
    let world = World::new();
    let customer = "+15550101020";
    world.text(customer, "first").await.unwrap();
    let id = world.id();
    world
        .chat
        .fail_next(ChatOp::SendMessage, Failure::Transient);

    let error = world.deliver(&id, customer, "second").await.unwrap_err();
    assert!(error.is_retriable());
    assert_eq!(error.error_type(), "Retriable.ChatUnavailable");
    let retried = world.deliver(&id, customer, "second").await.unwrap();

    assert!(matches!(retried, Outcome::Delivered { .. }));
    assert_eq!(world.only_contact().customer_texts(), ["first", "second"]);
}

#[tokio::test]
async fn send_message_500_after_connect_accepted_it_is_not_duplicated_by_the_retry() {
    let world = World::new();
    let customer = "+15550101021";
    world.text(customer, "first").await.unwrap();
    let id = world.id();
    world
        .chat
        .fail_next_after_effect(ChatOp::SendMessage, Failure::Transient);

    assert!(
        world
            .deliver(&id, customer, "second")
            .await
            .unwrap_err()
            .is_retriable()
    );
    world.deliver(&id, customer, "second").await.unwrap();

    assert_eq!(world.only_contact().customer_texts(), ["first", "second"]);
}

#[tokio::test]
async fn dedupe_marker_write_failure_is_retried_without_duplicating_the_text() {
    let world = World::new();
    let customer = "+15550101022";
    world.text(customer, "first").await.unwrap();
    let id = world.id();
    world.store.fail_next_mark.store(true, Ordering::SeqCst);

    let error = world.deliver(&id, customer, "second").await.unwrap_err();
    assert_eq!(error.error_type(), "Retriable.StoreUnavailable");
    world.deliver(&id, customer, "second").await.unwrap();
    assert_eq!(
        world.deliver(&id, customer, "second").await.unwrap(),
        Outcome::Duplicate
    );

    assert_eq!(world.only_contact().customer_texts(), ["first", "second"]);
}

#[tokio::test]
async fn a_first_text_whose_marker_write_failed_is_not_sent_again_on_retry() {
    // GIVEN a first text that started the chat (its text is the InitialMessage), but whose
    // activation and dedupe marker write failed, so the invocation failed after Connect
    // had the text
    let world = World::new();
    let customer = "+15550101026";
    let id = world.id();
    world.store.fail_next_mark.store(true, Ordering::SeqCst);
    let error = world.deliver(&id, customer, "first").await.unwrap_err();
    assert_eq!(error.error_type(), "Retriable.StoreUnavailable");

    // WHEN Lambda retries it (or SNS delivers it again), and then once more
    let retried = world.deliver(&id, customer, "first").await.unwrap();
    let again = world.deliver(&id, customer, "first").await.unwrap();

    // THEN the retry takes the start over, finds the text in the chat and does not send it
    // again; the text is there once
    assert!(
        matches!(retried, Outcome::Delivered { started: true, .. }),
        "{retried:?}"
    );
    assert_eq!(again, Outcome::Duplicate);
    assert_eq!(world.only_contact().customer_texts(), ["first"]);
    assert_eq!(world.chat.calls(ChatOp::SendMessage), 0);
    assert_eq!(
        world.chat.calls(ChatOp::StartChat),
        2,
        "the start replayed once"
    );
}

#[tokio::test]
async fn a_long_first_text_retried_after_its_marker_failed_sends_only_the_missing_parts() {
    // GIVEN a 2,500-character first text whose start and parts all went in, but whose
    // final marker write failed
    let world = World::new();
    let customer = "+15550101027";
    let body = "word ".repeat(500);
    let id = world.id();
    world.store.fail_next_mark.store(true, Ordering::SeqCst);
    let first = world.deliver(&id, customer, &body).await;
    // (the long-text path writes an `#initial` marker first: that is the write that
    // fails, before parts 2 and 3 are sent)
    assert!(first.is_err(), "{first:?}");

    // WHEN it is retried
    let retried = world.deliver(&id, customer, &body).await.unwrap();

    // THEN part 1 is not sent again and the other parts arrive once, in order
    assert!(matches!(retried, Outcome::Delivered { .. }), "{retried:?}");
    assert_eq!(world.only_contact().customer_texts().concat(), body);
}

#[tokio::test]
async fn a_long_text_whose_chat_ended_before_its_retry_goes_whole_to_the_next_chat() {
    // Found by the inbound machine's property tests (crates/core/tests/intake.rs).
    // GIVEN a two-part first text whose chat started with part 1, whose part 2 failed,
    let world = World::new();
    let customer = "+15550101028";
    let body = format!("{}{}", "a".repeat(1024), " and the rest");
    let id = world.id();
    world
        .chat
        .fail_next(ChatOp::SendMessage, Failure::Transient);
    assert!(world.deliver(&id, customer, &body).await.is_err());
    let (first_chat, _) = delivered(&world.text(customer, "meanwhile").await.unwrap());
    // and whose chat then ended, and another text started the next chat
    world.chat.end_contact(&first_chat);
    let (next_chat, started) = delivered(&world.text(customer, "next").await.unwrap());
    assert!(started && next_chat != first_chat);

    // WHEN the long text is retried
    let retried = world.deliver(&id, customer, &body).await.unwrap();

    // THEN all of it reaches the next chat, not part 2 alone
    assert_eq!(delivered(&retried).0, next_chat);
    let next = world
        .contacts()
        .into_iter()
        .find(|contact| contact.contact_id == next_chat)
        .unwrap();
    assert_eq!(
        next.customer_texts().concat(),
        format!("next{body}"),
        "the whole text follows the next chat's first"
    );
}

#[tokio::test]
async fn text_connect_rejects_as_invalid_is_dropped_and_acknowledged() {
    let world = World::new();
    let customer = "+15550101023";
    let (contact_id, _) = delivered(&world.text(customer, "first").await.unwrap());
    let id = world.id();
    world.chat.fail_next(ChatOp::SendMessage, Failure::Invalid);

    let outcome = world.deliver(&id, customer, "poison").await.unwrap();

    assert_eq!(
        outcome,
        Outcome::Dropped {
            contact_id,
            reason: bridge_inbound::DropReason::RejectedByConnect
        }
    );
    assert_eq!(
        world.deliver(&id, customer, "poison").await.unwrap(),
        Outcome::Duplicate
    );
}

#[tokio::test]
async fn start_chat_misconfiguration_fails_loudly_and_is_not_retriable() {
    let world = World::new();
    world.chat.fail_next(ChatOp::StartChat, Failure::Other);

    let error = world.text("+15550101024", "hello").await.unwrap_err();

    assert!(!error.is_retriable());
    assert_eq!(error.error_type(), "Permanent.ChatFailed");
}

#[tokio::test]
async fn a_failing_record_fails_the_event_without_holding_back_the_others() {
    let world = World::new();
    let first = world.event("evt-a", "+15550101025", "from a");
    let second = world.event("evt-b", "+15550101026", "from b");
    let mut event = first.clone();
    event.records.extend(second.records);
    world.chat.fail_next(ChatOp::StartChat, Failure::Transient);

    assert!(
        world
            .handler
            .handle_event(event.clone())
            .await
            .unwrap_err()
            .is_retriable()
    );
    assert_eq!(world.contacts().len(), 1, "the second record went through");
    let summary = world.handler.handle_event(event).await.unwrap();

    assert!(matches!(summary.outcomes()[0], Outcome::Delivered { .. }));
    assert_eq!(summary.outcomes()[1], &Outcome::Duplicate);
    assert_eq!(world.contacts().len(), 2);
}

/// The state a crash leaves between StartChatContact and the `active` write: a `starting`
/// row, and a chat in Connect started with the generation's ClientToken.
async fn crash_after_start_chat(world: &World, customer: &str, text: &str) {
    let key = world.key(customer);
    let shard = key.shard(world.handler.config().shard_count);
    world
        .store
        .inner
        .put(&Session::first(key.clone(), shard, world.clock.now()), None)
        .await
        .unwrap();
    world
        .chat
        .start_chat(&StartChat {
            instance_id: InstanceId::new("instance-1").unwrap(),
            contact_flow_id: bridge_core::ids::ContactFlowId::new(FLOW).unwrap(),
            client_token: key.start_token(1),
            display_name: "SMS customer".to_owned(),
            attributes: BTreeMap::new(),
            initial_message: Some(text.to_owned()),
            continue_from: None,
            duration_minutes: None,
            connection: None,
        })
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn crash_mid_start_is_taken_over_with_the_same_client_token() {
    let world = World::new();
    let customer = "+15550101027";
    let id = world.id();
    crash_after_start_chat(&world, customer, "help me").await;

    // Within the takeover age, the retry waits for the (dead) starter and gives up.
    let error = world.deliver(&id, customer, "help me").await.unwrap_err();
    assert!(
        matches!(error, HandlerError::StartPending { .. }),
        "{error:?}"
    );

    world.clock.advance(TimeDelta::seconds(31));
    let (contact_id, started) = delivered(&world.deliver(&id, customer, "help me").await.unwrap());

    assert!(started);
    let contact = world.only_contact();
    assert_eq!(contact.contact_id, contact_id);
    assert_eq!(
        contact.customer_texts(),
        ["help me"],
        "the InitialMessage, once"
    );
    assert_eq!(
        world.chat.calls(ChatOp::StartChat),
        2,
        "the takeover replayed the token"
    );
    assert!(contact.customer_connected);
    assert_eq!(
        world.session(customer).await.unwrap().status,
        Status::Active
    );
}

#[tokio::test]
async fn a_start_that_failed_without_crashing_is_taken_over_at_once() {
    let world = World::new();
    let customer = "+15550101029";
    let id = world.id();
    // StartChatContact took effect but its answer was lost.
    world
        .chat
        .fail_next_after_effect(ChatOp::StartChat, Failure::Transient);
    assert!(
        world
            .deliver(&id, customer, "hello")
            .await
            .unwrap_err()
            .is_retriable()
    );

    let (contact_id, _) = delivered(&world.deliver(&id, customer, "hello").await.unwrap());

    let contact = world.only_contact();
    assert_eq!(contact.contact_id, contact_id);
    assert_eq!(contact.customer_texts(), ["hello"]);
}

#[tokio::test]
async fn takeover_by_another_text_sends_it_when_connect_replays_the_dead_start() {
    let world = World::new();
    let customer = "+15550101028";
    crash_after_start_chat(&world, customer, "first, from the dead starter").await;
    world.clock.advance(TimeDelta::seconds(31));

    // Connect answers the replayed ClientToken with the old chat and ignores this text's
    // InitialMessage: the handler must notice and send it.
    let (contact_id, _) = delivered(&world.text(customer, "second, the taker").await.unwrap());

    let contact = world.only_contact();
    assert_eq!(contact.contact_id, contact_id);
    assert_eq!(
        contact.customer_texts(),
        ["first, from the dead starter", "second, the taker"]
    );
}

#[tokio::test]
async fn a_failed_starters_retry_after_another_texts_takeover_is_not_sent_twice() {
    // GIVEN text 1 whose StartChatContact created the chat (text 1 is its InitialMessage),
    // but whose activation write failed, so its start was released for a takeover
    let world = World::new();
    let customer = "+15550101029";
    let first = world.id();
    world.store.fail_next_mark.store(true, Ordering::SeqCst);
    let error = world
        .deliver(&first, customer, "text one")
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "Retriable.StoreUnavailable");

    // WHEN text 2 arrives and takes the start over (Connect replays text 1's chat), and
    // then Lambda retries text 1
    let (contact_id, _) = delivered(&world.text(customer, "text two").await.unwrap());
    let retried = world.deliver(&first, customer, "text one").await.unwrap();

    // THEN each text is in the chat once: the takeover named text 1 as the chat's opening
    // text, so its retry is a duplicate
    assert_eq!(retried, Outcome::Duplicate);
    let contact = world.only_contact();
    assert_eq!(contact.contact_id, contact_id);
    assert_eq!(contact.customer_texts(), ["text one", "text two"]);
}

#[tokio::test]
async fn a_second_takeover_never_names_a_starter_whose_text_did_not_open_the_chat() {
    // GIVEN a starter S that wrote its `starting` row and died before StartChatContact,
    // then a first taker T1 whose StartChatContact created the chat (T1's text opens it)
    // but whose answer was lost
    let world = World::new();
    let customer = "+15550101027";
    let key = world.key(customer);
    let shard = key.shard(world.handler.config().shard_count);
    world
        .store
        .inner
        .put(
            &Session {
                starting_sms: Some(InboundMessageId::new("msg-starter").unwrap()),
                starting_digest: Some(text_digest("from the starter")),
                ..Session::first(key.clone(), shard, world.clock.now())
            },
            None,
        )
        .await
        .unwrap();
    world.clock.advance(TimeDelta::seconds(31));
    world
        .chat
        .fail_next_after_effect(ChatOp::StartChat, Failure::Transient);
    let first_taker = world.id();
    world
        .deliver(&first_taker, customer, "from the first taker")
        .await
        .unwrap_err();

    // WHEN a second taker takes over (Connect replays T1's chat), then S and T1 retry
    delivered(&world.text(customer, "from the second taker").await.unwrap());
    let starter = world
        .deliver("msg-starter", customer, "from the starter")
        .await
        .unwrap();
    world
        .deliver(&first_taker, customer, "from the first taker")
        .await
        .unwrap();

    // THEN no text is lost: the chat did not open with S's text, so S was not named and
    // its retry sent it (T1's retry may repeat T1's: at least once, never lost)
    assert!(matches!(starter, Outcome::Delivered { .. }), "{starter:?}");
    let texts = world.only_contact().customer_texts();
    for text in [
        "from the starter",
        "from the first taker",
        "from the second taker",
    ] {
        assert!(
            texts.iter().any(|t| t == text),
            "{text:?} missing from {texts:?}"
        );
    }
    assert_eq!(texts[0], "from the first taker", "{texts:?}");
    assert_eq!(
        texts.iter().filter(|t| *t == "from the starter").count(),
        1,
        "{texts:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Long bodies
// ---------------------------------------------------------------------------------------

fn long_body(chars: usize) -> String {
    let words = ["alpha ", "beta ", "gamma ", "delta ", "épsilon ", "🙂 "];
    let mut body = String::new();
    let mut n = 0;
    while body.chars().count() < chars {
        body.push_str(words[n % words.len()]);
        n += 1;
    }
    body.chars().take(chars).collect()
}

#[tokio::test]
async fn a_3000_character_first_text_is_initial_message_plus_ordered_parts() {
    let world = World::new();
    let customer = "+15550101030";
    let body = long_body(3_000);

    world.text(customer, &body).await.unwrap();

    let contact = world.only_contact();
    let parts = contact.customer_texts();
    assert!(parts.len() >= 3, "{}", parts.len());
    assert!(parts.iter().all(|part| part.chars().count() <= 1024));
    assert_eq!(contact.request.initial_message.as_ref(), Some(&parts[0]));
    assert_eq!(parts.concat(), body, "in order, nothing lost");
}

#[tokio::test]
async fn a_3000_character_text_to_an_open_chat_is_sent_in_ordered_parts() {
    let world = World::new();
    let customer = "+15550101031";
    world.text(customer, "short first").await.unwrap();
    let body = long_body(3_000);

    world.text(customer, &body).await.unwrap();

    let texts = world.only_contact().customer_texts();
    assert_eq!(texts[0], "short first");
    assert!(texts[1..].iter().all(|part| part.chars().count() <= 1024));
    assert_eq!(texts[1..].concat(), body);
}

#[tokio::test]
async fn long_first_text_failing_on_a_later_part_resumes_without_repeating_part_one() {
    let world = World::new();
    let customer = "+15550101032";
    let id = world.id();
    let body = long_body(3_000);
    world
        .chat
        .fail_next(ChatOp::SendMessage, Failure::Transient);

    assert!(
        world
            .deliver(&id, customer, &body)
            .await
            .unwrap_err()
            .is_retriable()
    );
    world.deliver(&id, customer, &body).await.unwrap();

    let parts = world.only_contact().customer_texts();
    assert_eq!(parts.concat(), body, "each part once, in order");
}

// ---------------------------------------------------------------------------------------
// Keywords
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn stop_ends_the_chat_tells_the_agent_and_holds_texts_until_start() {
    let world = World::with(Options {
        opt_out_text: Some("You are opted out. Text START to resume."),
        opt_in_text: Some("Welcome back."),
        ..Options::default()
    });
    let customer = "+15550101040";
    let (contact_id, _) = delivered(&world.text(customer, "hello").await.unwrap());

    let outcome = world.text(customer, "Stop").await.unwrap();

    assert_eq!(
        outcome,
        Outcome::OptedOut {
            ended: Some(contact_id.clone())
        }
    );
    let contact = world.only_contact();
    assert!(contact.ended);
    assert_eq!(
        contact.customer_texts(),
        ["hello", "Customer opted out of SMS (texted STOP)."]
    );
    let session = world.session(customer).await.unwrap();
    assert!(session.opted_out);
    assert_eq!(session.status, Status::Ended);
    let replies = world.sms.sent();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].to, phone(customer));
    assert_eq!(replies[0].from, phone(SUPPORT));
    assert_eq!(replies[0].body, "You are opted out. Text START to resume.");

    assert_eq!(
        world.text(customer, "still there?").await.unwrap(),
        Outcome::Suppressed
    );
    assert_eq!(world.text(customer, "yes").await.unwrap(), Outcome::OptedIn);
    assert!(!world.session(customer).await.unwrap().opted_out);
    assert_eq!(world.sms.sent()[1].body, "Welcome back.");
    let (new, started) = delivered(&world.text(customer, "I am back").await.unwrap());

    assert!(started && new != contact_id);
    let contacts = world.contacts();
    assert_eq!(contacts.len(), 2);
    assert_eq!(
        contacts[1].customer_texts(),
        ["I am back"],
        "the held text never went"
    );
}

#[tokio::test]
async fn stop_records_the_opt_out_before_it_ends_the_chat() {
    // GIVEN an open chat, and the customer's DisconnectParticipant failing once (so the
    // STOP invocation stops right there)
    let world = World::new();
    let customer = "+15550101041";
    let id = world.id();
    delivered(&world.text(customer, "hello").await.unwrap());
    world.chat.fail_next(ChatOp::Disconnect, Failure::Transient);

    // WHEN STOP is handled and fails at the disconnect
    let error = world.deliver(&id, customer, "STOP").await.unwrap_err();
    assert_eq!(error.error_type(), "Retriable.ChatUnavailable");

    // THEN the row already says opted out, the chat still open: the relay, which reads
    // the row before any notice, sends no closing text when the chat ends
    let session = world.session(customer).await.unwrap();
    assert!(session.opted_out);
    assert_eq!(session.status, Status::Active);
    // AND the retry finishes the job once
    let retried = world.deliver(&id, customer, "STOP").await.unwrap();
    assert!(
        matches!(retried, Outcome::OptedOut { ended: Some(_) }),
        "{retried:?}"
    );
    let session = world.session(customer).await.unwrap();
    assert_eq!((session.status, session.opted_out), (Status::Ended, true));
    assert!(world.only_contact().ended);
    assert_eq!(
        world.only_contact().customer_texts(),
        ["hello", "Customer opted out of SMS (texted STOP)."],
        "the note once"
    );
}

#[tokio::test]
async fn stop_without_a_session_still_holds_later_texts() {
    let world = World::new();
    let customer = "+15550101041";

    assert_eq!(
        world.text(customer, "UNSUBSCRIBE").await.unwrap(),
        Outcome::OptedOut { ended: None }
    );
    assert_eq!(
        world.text(customer, "hello?").await.unwrap(),
        Outcome::Suppressed
    );
    assert!(world.contacts().is_empty());
    assert!(world.sms.sent().is_empty(), "no opt-out text configured");
    assert_eq!(
        world.text(customer, "START").await.unwrap(),
        Outcome::OptedIn
    );
    world.text(customer, "hello again").await.unwrap();

    assert_eq!(world.only_contact().customer_texts(), ["hello again"]);
    assert_eq!(world.session(customer).await.unwrap().generation, 1);
}

#[tokio::test]
async fn yes_from_a_customer_who_did_not_opt_out_is_an_ordinary_text() {
    let world = World::new();
    let customer = "+15550101042";
    world.text(customer, "can you refund me?").await.unwrap();

    let outcome = world.text(customer, "Yes").await.unwrap();

    assert!(matches!(outcome, Outcome::Delivered { .. }));
    assert_eq!(
        world.only_contact().customer_texts(),
        ["can you refund me?", "Yes"]
    );
}

#[tokio::test]
async fn help_is_answered_from_the_support_number_once_and_not_forwarded() {
    let world = World::new();
    let customer = "+15550101043";
    let id = world.id();

    assert_eq!(
        world.deliver(&id, customer, "help").await.unwrap(),
        Outcome::Help
    );
    assert_eq!(
        world.deliver(&id, customer, "help").await.unwrap(),
        Outcome::Duplicate
    );

    let sent = world.sms.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, phone(customer));
    assert_eq!(sent[0].from, phone(SUPPORT));
    assert_eq!(sent[0].body, world.handler.config().help_text);
    assert!(world.contacts().is_empty());
    assert!(world.session(customer).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn stop_while_the_chat_is_being_started_ends_that_chat() {
    let world = Arc::new(World::new());
    let customer = "+15550101044";
    let first = {
        let world = world.clone();
        tokio::spawn(async move { world.text(customer, "hello").await })
    };
    // Let the first text write its `starting` row, then send STOP.
    while world.session(customer).await.is_none() {
        tokio::task::yield_now().await;
    }

    let stop = world.text(customer, "STOP").await.unwrap();

    let (contact_id, _) = delivered(&first.await.unwrap().unwrap());
    assert_eq!(
        stop,
        Outcome::OptedOut {
            ended: Some(contact_id)
        }
    );
    assert!(world.only_contact().ended);
    assert!(world.session(customer).await.unwrap().opted_out);
}

// ---------------------------------------------------------------------------------------
// Rejected input
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_unknown_number_and_empty_body_are_rejected_without_touching_anything() {
    let world = World::new();
    let malformed = {
        let mut event = world.event("m-1", "+15550101050", "hi");
        event.records[0].sns.message = "{not json".to_owned();
        event
    };
    let unknown = world.event_to("m-2", "+15550101050", "+18005550142", "hi");
    let empty = world.event("m-3", "+15550101050", "  \n ");
    let bad_phone = world.event("m-4", "5550101050", "hi");

    let outcomes: Vec<_> = [malformed, unknown, empty, bad_phone]
        .into_iter()
        .map(|event| world.handler.handle_event(event))
        .collect();
    let mut results = Vec::new();
    for outcome in outcomes {
        results.push(only(outcome.await).unwrap());
    }

    let reasons: Vec<_> = results
        .iter()
        .map(|outcome| match outcome {
            Outcome::Rejected { reason } => reason.clone(),
            other => panic!("expected rejected, got {other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            RejectReason::Malformed {
                kind: "invalid_json",
                field: None
            },
            RejectReason::UnknownSupportNumber,
            RejectReason::EmptyBody,
            RejectReason::Malformed {
                kind: "invalid_phone",
                field: Some("originationNumber")
            },
        ]
    );
    assert_eq!(world.store.calls(), 0, "no store call");
    assert_eq!(world.chat.calls(ChatOp::StartChat), 0);
    assert!(world.sms.sent().is_empty());
}

#[tokio::test]
async fn the_lambda_entry_point_handles_a_hand_built_event() {
    let world = World::new();
    let event = LambdaEvent::new(
        world.event("l-1", "+15550101051", "via lambda"),
        Context::default(),
    );

    let summary = world.handler.handle_lambda(event).await.unwrap();

    assert_eq!(
        summary.records[0].sms_id.as_ref().map(|id| id.as_str()),
        Some("l-1")
    );
    assert_eq!(summary.records[0].sns_message_id, "sns-l-1");
    assert_eq!(world.only_contact().customer_texts(), ["via lambda"]);
}

// ---------------------------------------------------------------------------------------
// Recorded fixtures: emoji and non-Latin scripts arrive intact
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn unicode_fixture_texts_reach_the_chat_unchanged() {
    let world = World::new();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/unicode.jsonl"
    );
    let fixture = std::fs::read_to_string(path).unwrap();
    let mut expected = Vec::new();
    for (line_index, line) in fixture
        .lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
    {
        for (n, sms) in parse_line(line).unwrap().into_iter().enumerate() {
            expected.push(sms.body.clone());
            let record = InboundRecord {
                sns_message_id: format!("fixture-{line_index}-{n}"),
                sms,
            };
            let outcome = world.handler.handle_sms(record).await.unwrap();
            assert!(
                matches!(outcome, Outcome::Delivered { .. }),
                "line {}: {outcome:?}",
                line_index + 1
            );
        }
    }

    let mut delivered: Vec<String> = world
        .contacts()
        .iter()
        .flat_map(FakeContact::customer_texts)
        .collect();
    delivered.sort();
    expected.sort();
    assert_eq!(delivered, expected);
}

// ---------------------------------------------------------------------------------------
// Delivery events of the SMS the relay sent (End User Messaging)
// ---------------------------------------------------------------------------------------

const MESSAGE_DELIVERED: &str = "application/vnd.amazonaws.connect.event.message.delivered";

/// An SNS event holding End User Messaging's delivery event for one tagged SMS part.
fn delivery_event(customer: &str, tag: &DeliveryTag, kind: &str, message_id: &str) -> SnsEvent {
    let context: BTreeMap<&str, String> = tag.context(&phone(SUPPORT)).into_iter().collect();
    let payload = serde_json::json!({
        "eventType": kind, "eventVersion": "1.0", "eventTimestamp": 1_765_000_000_000_u64,
        "isFinal": kind != "TEXT_SUCCESSFUL", "originationPhoneNumber": SUPPORT,
        "destinationPhoneNumber": customer, "messageId": message_id,
        "messageStatus": "X", "context": context, "totalMessageParts": 1,
    });
    wrap_in_sns_event(
        &payload.to_string(),
        &format!("sns-{message_id}"),
        TOPIC,
        Utc::now(),
    )
}

/// A chat the customer started, and an agent reply in it with its tag for part `part` of 2.
async fn chat_with_reply(world: &World, customer: &str) -> (ContactId, ItemId) {
    let (contact_id, _) = delivered(&world.text(customer, "hi").await.unwrap());
    let item = world
        .chat
        .agent_message(&contact_id, "Here is a long answer")
        .unwrap();
    world.store.reset_counts();
    (contact_id, item)
}

fn tag(contact_id: &ContactId, item: &ItemId, part: usize) -> DeliveryTag {
    DeliveryTag {
        contact_id: contact_id.clone(),
        item_id: item.clone(),
        part,
        parts: 2,
    }
}

#[tokio::test]
async fn a_reply_whose_last_part_arrived_is_marked_delivered_once() {
    let world = World::new();
    let customer = "+15550109001";
    let (contact_id, item) = chat_with_reply(&world, customer).await;
    let events_before = world.chat.calls(ChatOp::SendEvent);

    // WHEN the carrier accepts part 1, then delivers it, then delivers part 2 (twice: SNS
    // delivers at least once)
    for (part, kind, id) in [(1, "TEXT_SUCCESSFUL", "m-1"), (1, "TEXT_DELIVERED", "m-1")] {
        let event = delivery_event(customer, &tag(&contact_id, &item, part), kind, id);
        let outcome = only(world.handler.handle_event(event).await).unwrap();
        assert_eq!(outcome, Outcome::Receipt(ReceiptOutcome::Ignored), "{kind}");
    }
    assert_eq!(
        world.store.calls(),
        0,
        "a part before the last costs nothing"
    );
    for _ in 0..2 {
        let event = delivery_event(
            customer,
            &tag(&contact_id, &item, 2),
            "TEXT_DELIVERED",
            "m-2",
        );
        let outcome = only(world.handler.handle_event(event).await).unwrap();
        assert_eq!(
            outcome,
            Outcome::Receipt(ReceiptOutcome::Delivered {
                contact_id: contact_id.clone()
            })
        );
    }

    // THEN the agent's message carries one delivered receipt, as Connect's chat client sends it
    let expected = serde_json::json!({ "messageId": item }).to_string();
    assert_eq!(
        world.only_contact().events,
        [(MESSAGE_DELIVERED.to_owned(), Some(expected))]
    );
    // AND each event cost one session read and one SendEvent, and wrote nothing
    assert_eq!(world.store.reads(), 2);
    assert_eq!(world.store.writes(), 0);
    assert_eq!(world.chat.calls(ChatOp::SendEvent) - events_before, 2);
    assert_eq!(world.only_contact().customer_texts(), ["hi"]);
}

#[tokio::test]
async fn a_reply_that_did_not_reach_the_phone_leaves_the_agent_one_note() {
    let world = World::new();
    let customer = "+15550109002";
    let (contact_id, item) = chat_with_reply(&world, customer).await;

    // WHEN both parts fail at the carrier
    for (part, id) in [(1, "m-1"), (2, "m-2")] {
        let event = delivery_event(
            customer,
            &tag(&contact_id, &item, part),
            "TEXT_CARRIER_UNREACHABLE",
            id,
        );
        let outcome = only(world.handler.handle_event(event).await).unwrap();
        assert_eq!(
            outcome,
            Outcome::Receipt(ReceiptOutcome::FailureNoted {
                contact_id: contact_id.clone()
            })
        );
    }

    // THEN the chat holds one note saying so (the first failed part's), and no receipt
    let contact = world.only_contact();
    assert_eq!(
        contact.customer_texts(),
        [
            "hi",
            "[SMS bridge] Your last message was not delivered to the customer's phone \
             (part 1 of 2): the customer's carrier could not be reached."
        ]
    );
    assert!(contact.events.is_empty(), "{:?}", contact.events);
}

#[tokio::test]
async fn delivery_events_of_an_earlier_chat_or_an_untagged_sms_change_nothing() {
    let world = World::new();
    let customer = "+15550109003";
    let (old_contact, item) = chat_with_reply(&world, customer).await;
    // GIVEN the agent ended that chat and the customer's next text started another
    world.chat.end_contact(&old_contact);
    let (new_contact, _) = delivered(&world.text(customer, "hello again").await.unwrap());
    assert_ne!(old_contact, new_contact);

    // WHEN the old reply's delivery event arrives late
    let event = delivery_event(
        customer,
        &tag(&old_contact, &item, 2),
        "TEXT_DELIVERED",
        "m-9",
    );
    let outcome = only(world.handler.handle_event(event).await).unwrap();
    // THEN it is acknowledged and neither chat gets a receipt
    assert_eq!(outcome, Outcome::Receipt(ReceiptOutcome::ChatOver));
    assert!(
        world
            .contacts()
            .iter()
            .all(|contact| contact.events.is_empty())
    );

    // AND an event of an SMS the relay did not tag (a keyword reply) costs nothing
    world.store.reset_counts();
    let untagged = serde_json::json!({
        "eventType": "TEXT_DELIVERED", "isFinal": true, "destinationPhoneNumber": customer,
        "originationPhoneNumber": SUPPORT, "messageId": "m-10",
    });
    let event = wrap_in_sns_event(&untagged.to_string(), "sns-m-10", TOPIC, Utc::now());
    let outcome = only(world.handler.handle_event(event).await).unwrap();
    assert_eq!(outcome, Outcome::Receipt(ReceiptOutcome::Ignored));
    assert_eq!(world.store.calls(), 0);
}

#[tokio::test]
async fn a_receipt_whose_connection_expired_refreshes_it_once() {
    // GIVEN connection tokens that live one minute, and a reply's delivery an hour later
    let world = World::with(Options {
        connection_ttl: Some(TimeDelta::minutes(1)),
        ..Options::default()
    });
    let customer = "+15550109004";
    let (contact_id, item) = chat_with_reply(&world, customer).await;
    world.clock.advance(TimeDelta::hours(1));
    let connections = world.chat.calls(ChatOp::CreateConnection);

    let event = delivery_event(
        customer,
        &tag(&contact_id, &item, 2),
        "TEXT_DELIVERED",
        "m-3",
    );
    let outcome = only(world.handler.handle_event(event).await).unwrap();

    // THEN the receipt goes in with a fresh connection
    assert!(matches!(
        outcome,
        Outcome::Receipt(ReceiptOutcome::Delivered { .. })
    ));
    assert_eq!(world.chat.calls(ChatOp::CreateConnection) - connections, 1);
    assert_eq!(world.only_contact().events.len(), 1);
}
