//! Session cases: versions and racing writes, the relay's cursor and menu, the shard
//! listing, expiry.

use bridge_core::ids::{InboundMessageId, ItemId};
use bridge_core::menu::{MenuChange, MenuOption};
use bridge_core::ports::StoreError;
use bridge_core::session::{Session, SessionKey, Status};
use chrono::TimeDelta;

use super::{Store, StoreUnderTest, active, assert_conflict, chat, contact, key};

pub async fn racing_creates_have_exactly_one_winner(s: &StoreUnderTest<impl Store>) {
    let key = key(1);
    // Two first texts, two rows told apart by shard: only one may land.
    let first = Session::first(key.clone(), 1, s.now());
    let second = Session::first(key.clone(), 2, s.now());
    let (a, b) = tokio::join!(s.store.put(&first, None), s.store.put(&second, None));
    let winner = match (a, b) {
        (Ok(winner), Err(StoreError::Conflict { .. }))
        | (Err(StoreError::Conflict { .. }), Ok(winner)) => winner,
        other => panic!("expected one winner and one conflict, got {other:?}"),
    };
    assert_eq!(winner.version, 1);
    assert_eq!(s.store.get(&key).await.unwrap(), Some(winner));
    // A later, different create still conflicts.
    let third = Session::first(key.clone(), 3, s.now());
    assert_conflict(s.store.put(&third, None).await);
}

pub async fn stale_versions_conflict(s: &StoreUnderTest<impl Store>) {
    let key = key(2);
    let v1 = s
        .store
        .put(&Session::first(key.clone(), 0, s.now()), None)
        .await
        .unwrap();
    let v2 = s
        .store
        .put(&v1.with_opt_out(true, s.now()), Some(1))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    // A writer that read v1 loses.
    assert_conflict(s.store.put(&v1.with_opt_out(false, s.now()), Some(1)).await);
    // An expected version on an absent item loses too, and creates nothing.
    assert_conflict(
        s.store
            .put(&Session::first(key_absent(), 0, s.now()), Some(7))
            .await,
    );
    assert_eq!(s.store.get(&key_absent()).await.unwrap(), None);
    assert_eq!(s.store.get(&key).await.unwrap(), Some(v2));
}

pub async fn repeated_writes_that_already_applied_are_not_conflicts(
    s: &StoreUnderTest<impl Store>,
) {
    // What the SDK does when an attempt times out after the write applied: send it again.
    let key = key(7);
    let row = Session {
        writer: Some("write-1".into()),
        ..Session::first(key.clone(), 0, s.now())
    };
    let created = s.store.put(&row, None).await.unwrap();
    assert_eq!(s.store.put(&row, None).await.unwrap(), created);
    // Another writer's row that looks the same in every other field is a rival, not a
    // repeat: two first texts racing in the same millisecond must not both win.
    let rival = Session {
        writer: Some("write-2".into()),
        ..row.clone()
    };
    assert_conflict(s.store.put(&rival, None).await);
    let anonymous = Session {
        writer: None,
        ..row.clone()
    };
    assert_conflict(s.store.put(&anonymous, None).await);
    let active = Session {
        writer: Some("write-3".into()),
        ..created.activated(chat("c-1", s.now()), s.now())
    };
    let written = s.store.put(&active, Some(1)).await.unwrap();
    assert_eq!(s.store.put(&active, Some(1)).await.unwrap(), written);
    // Only the identical row counts: a different write from the same version loses.
    assert_conflict(
        s.store
            .put(&active.with_opt_out(true, s.now()), Some(1))
            .await,
    );
}

/// A session no case writes.
fn key_absent() -> SessionKey {
    key(9_999)
}

pub async fn session_round_trips_every_field(s: &StoreUnderTest<impl Store>) {
    let key = key(3);
    let created = s
        .store
        .put(&Session::first(key.clone(), 5, s.now()), None)
        .await
        .unwrap();
    let mut wanted = created.activated(chat("c-1", s.now()), s.now() + TimeDelta::milliseconds(1));
    wanted.previous_contact_id = Some(contact("c-0"));
    wanted.opted_out = true;
    wanted.generation = 4;
    wanted.initial_sms = Some(InboundMessageId::new("sms-initial").unwrap());
    wanted.starting_sms = Some(InboundMessageId::new("sms-starting").unwrap());
    wanted.starting_digest = Some("0123456789abcdef01234567".to_owned());
    let written = s.store.put(&wanted, Some(1)).await.unwrap();
    assert_eq!(
        written,
        Session {
            version: 2,
            ..wanted.clone()
        }
    );
    assert_eq!(s.store.get(&key).await.unwrap(), Some(written));
    assert_eq!(s.store.get(&key_absent()).await.unwrap(), None);
}

pub async fn put_never_touches_the_relay_cursor(s: &StoreUnderTest<impl Store>) {
    let key = key(4);
    let read_by_inbound = active(&s.store, &key, 1, "c-1", s.now()).await;
    assert!(
        s.store
            .advance_cursor(&key, &contact("c-1"), &ItemId::new("i-5").unwrap(), s.now())
            .await
            .unwrap()
    );
    // An inbound write built from a read that predates the cursor (relay_cursor: None).
    assert_eq!(read_by_inbound.relay_cursor, None);
    let written = s
        .store
        .put(
            &read_by_inbound.with_opt_out(false, s.now()),
            Some(read_by_inbound.version),
        )
        .await
        .unwrap();
    assert_eq!(
        written.cursor_for_current_chat().map(ItemId::as_str),
        Some("i-5")
    );
    assert_eq!(s.store.get(&key).await.unwrap(), Some(written.clone()));
    // The next generation keeps it too, and it no longer counts for the new chat.
    let mut ended = written.clone();
    ended.status = Status::Ended;
    let ended = s.store.put(&ended, Some(written.version)).await.unwrap();
    let next = s
        .store
        .put(&ended.next_generation(s.now()), Some(ended.version))
        .await
        .unwrap();
    let next = s
        .store
        .put(
            &next.activated(chat("c-2", s.now()), s.now()),
            Some(next.version),
        )
        .await
        .unwrap();
    assert!(next.relay_cursor.is_some());
    assert_eq!(next.cursor_for_current_chat(), None);
}

pub async fn end_chat_is_conditional_on_the_contact(s: &StoreUnderTest<impl Store>) {
    let key = key(5);
    let session = active(&s.store, &key, 3, "c-2", s.now()).await;
    // An older chat's end changes nothing.
    assert_eq!(
        s.store
            .end_chat(&key, &contact("c-1"), s.now())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.store.get(&key).await.unwrap().unwrap().status,
        Status::Active
    );
    let later = s.now() + TimeDelta::seconds(5);
    let ended = s
        .store
        .end_chat(&key, &contact("c-2"), later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.status, Status::Ended);
    assert_eq!(ended.version, session.version + 1);
    assert_eq!(ended.updated_at, later);
    assert_eq!(ended.contact_id(), Some(&contact("c-2")));
    assert_eq!(s.store.active_in_shard(3).await.unwrap(), []);
    // Ending twice is nothing to do; an absent session is not created.
    assert_eq!(
        s.store
            .end_chat(&key, &contact("c-2"), later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.store
            .end_chat(&key_absent(), &contact("c-2"), later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.store.get(&key_absent()).await.unwrap(), None);
    // A writer that read the active row now conflicts.
    assert_conflict(
        s.store
            .put(&session.with_opt_out(true, later), Some(session.version))
            .await,
    );
}

pub async fn advance_cursor_is_conditional_on_the_contact(s: &StoreUnderTest<impl Store>) {
    let key = key(6);
    let session = active(&s.store, &key, 2, "c-7", s.now()).await;
    let item = ItemId::new("i-1").unwrap();
    assert!(
        !s.store
            .advance_cursor(&key, &contact("c-6"), &item, s.now())
            .await
            .unwrap()
    );
    assert_eq!(s.store.get(&key).await.unwrap().unwrap().relay_cursor, None);
    assert!(
        s.store
            .advance_cursor(&key, &contact("c-7"), &item, s.now())
            .await
            .unwrap()
    );
    let stored = s.store.get(&key).await.unwrap().unwrap();
    assert_eq!(stored.cursor_for_current_chat(), Some(&item));
    // The cursor is the relay's: it does not bump the inbound's version.
    assert_eq!(stored.version, session.version);
    // Agent replies sent just before the end still move the cursor of the ended chat.
    s.store
        .end_chat(&key, &contact("c-7"), s.now())
        .await
        .unwrap()
        .unwrap();
    let last = ItemId::new("i-2").unwrap();
    assert!(
        s.store
            .advance_cursor(&key, &contact("c-7"), &last, s.now())
            .await
            .unwrap()
    );
    // No session: nothing to advance, and nothing created.
    assert!(
        !s.store
            .advance_cursor(&key_absent(), &contact("c-7"), &item, s.now())
            .await
            .unwrap()
    );
    assert_eq!(s.store.get(&key_absent()).await.unwrap(), None);
}

/// The customer's next text replaced chat c-8 with c-9 before the relay delivered
/// c-8's end: the relay may still write c-8's cursor, and the row then says how far it
/// got (`Session::undelivered_previous`); a chat older than that, never.
pub async fn advance_cursor_accepts_the_previous_chat(s: &StoreUnderTest<impl Store>) {
    let key = key(8);
    let first = active(&s.store, &key, 2, "c-8", s.now()).await;
    let starting = s
        .store
        .put(&first.next_generation(s.now()), Some(first.version))
        .await
        .unwrap();
    let next = s
        .store
        .put(
            &starting.activated(chat("c-9", s.now()), s.now()),
            Some(starting.version),
        )
        .await
        .unwrap();
    assert_eq!(next.previous_contact_id, Some(contact("c-8")));
    assert_eq!(next.previous_started_at, Some(first.started_at));
    let owed = next.undelivered_previous().unwrap();
    assert_eq!((owed.contact_id, owed.cursor), (contact("c-8"), None));

    let item = ItemId::new("i-3").unwrap();
    assert!(
        s.store
            .advance_cursor(&key, &contact("c-8"), &item, s.now())
            .await
            .unwrap()
    );
    let stored = s.store.get(&key).await.unwrap().unwrap();
    assert_eq!(stored.undelivered_previous().unwrap().cursor, Some(item));
    assert!(
        s.store
            .advance_cursor(
                &key,
                &contact("c-8"),
                &Session::closing_sent_cursor(),
                s.now()
            )
            .await
            .unwrap()
    );
    let stored = s.store.get(&key).await.unwrap().unwrap();
    assert_eq!(stored.undelivered_previous(), None, "delivered to its end");
    assert_eq!(stored.version, next.version, "the cursor is the relay's");
    // Neither the current chat nor the previous one: refused.
    assert!(
        !s.store
            .advance_cursor(&key, &contact("c-7"), &ItemId::new("i-1").unwrap(), s.now())
            .await
            .unwrap()
    );
}

/// The relay's menu rides on its cursor writes: opened by an interactive message,
/// kept by the inbound side's puts, closed by the agent's next message.
pub async fn the_menu_is_written_with_the_cursor_and_kept_by_puts(s: &StoreUnderTest<impl Store>) {
    let key = key(23);
    let session = active(&s.store, &key, 2, "c-23", s.now()).await;
    let options = vec![MenuOption {
        text: "Billing".to_owned(),
        reply: "Billing".to_owned(),
    }];
    assert!(
        s.store
            .advance_cursor_and_menu(
                &key,
                &contact("c-23"),
                &ItemId::new("i-1").unwrap(),
                &MenuChange::Open(options.clone()),
                s.now()
            )
            .await
            .unwrap()
    );
    let stored = s.store.get(&key).await.unwrap().unwrap();
    let menu = stored.open_menu().expect("an open menu");
    assert_eq!(
        (&menu.contact_id, &menu.options),
        (&contact("c-23"), &options)
    );
    assert_eq!(stored.version, session.version, "the menu is the relay's");
    // A put (a refreshed connection) leaves it.
    let refreshed = s
        .store
        .put(&stored.with_opt_out(false, s.now()), Some(stored.version))
        .await
        .unwrap();
    assert_eq!(refreshed.menu, stored.menu);
    assert!(
        s.store
            .get(&key)
            .await
            .unwrap()
            .unwrap()
            .open_menu()
            .is_some()
    );
    // A cursor write without a change keeps it; the agent's next message closes it.
    for (change, open) in [(MenuChange::Keep, true), (MenuChange::Close, false)] {
        s.store
            .advance_cursor_and_menu(
                &key,
                &contact("c-23"),
                &ItemId::new("i-2").unwrap(),
                &change,
                s.now(),
            )
            .await
            .unwrap();
        let stored = s.store.get(&key).await.unwrap().unwrap();
        assert_eq!(stored.open_menu().is_some(), open, "{change:?}");
    }
    assert_eq!(s.store.get(&key).await.unwrap().unwrap().menu, None);
}

pub async fn active_in_shard_lists_live_sessions_only(s: &StoreUnderTest<impl Store>) {
    let starting = s
        .store
        .put(&Session::first(key(10), 5, s.now()), None)
        .await
        .unwrap();
    let live = active(&s.store, &key(11), 5, "c-11", s.now()).await;
    let gone = active(&s.store, &key(12), 5, "c-12", s.now()).await;
    s.store
        .end_chat(&key(12), &contact("c-12"), s.now())
        .await
        .unwrap()
        .unwrap();
    let elsewhere = active(&s.store, &key(13), 6, "c-13", s.now()).await;
    let mut listed = s.store.active_in_shard(5).await.unwrap();
    listed.sort_by_key(|s| s.key.customer.as_e164().to_owned());
    assert_eq!(listed, [starting.clone(), live.clone()]);
    assert_eq!(s.store.active_in_shard(6).await.unwrap(), [elsewhere]);
    assert_eq!(s.store.active_in_shard(7).await.unwrap(), []);
    // Ended via put: out of the index; a new generation: back in.
    let mut ended = live.clone();
    ended.status = Status::Ended;
    let ended = s.store.put(&ended, Some(live.version)).await.unwrap();
    assert_eq!(s.store.active_in_shard(5).await.unwrap(), [starting]);
    let gone = s.store.get(&gone.key).await.unwrap().unwrap();
    let restarted = s
        .store
        .put(&gone.next_generation(s.now()), Some(gone.version))
        .await
        .unwrap();
    let listed: Vec<_> = s
        .store
        .active_in_shard(5)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert!(
        listed.contains(&restarted.key) && !listed.contains(&ended.key),
        "{listed:?}"
    );
}

pub async fn expired_session_is_absent_and_can_be_created_again(s: &StoreUnderTest<impl Store>) {
    let key = key(20);
    active(&s.store, &key, 4, "c-20", s.now()).await;
    s.clock.advance(TimeDelta::days(30) + TimeDelta::seconds(1));
    assert_eq!(s.store.get(&key).await.unwrap(), None);
    assert_eq!(s.store.active_in_shard(4).await.unwrap(), []);
    // Writes conditional on a live session do not resurrect it.
    assert_eq!(
        s.store
            .end_chat(&key, &contact("c-20"), s.now())
            .await
            .unwrap(),
        None
    );
    assert!(
        !s.store
            .advance_cursor(&key, &contact("c-20"), &ItemId::new("i").unwrap(), s.now())
            .await
            .unwrap()
    );
    assert_eq!(s.store.get(&key).await.unwrap(), None);
    // Absent means "create": the first text after expiry starts afresh.
    let fresh = s
        .store
        .put(&Session::first(key.clone(), 4, s.now()), None)
        .await
        .unwrap();
    assert_eq!(fresh.version, 1);
    assert_eq!(fresh.chat, None);
    assert_eq!(s.store.get(&key).await.unwrap(), Some(fresh));
}
