//! Dedupe marker cases: markers alone, and written or read with their session.

use bridge_core::ids::{InboundMessageId, ItemId};
use bridge_core::ports::Marker;
use bridge_core::session::Session;
use chrono::TimeDelta;

use super::{Store, StoreUnderTest, active, assert_conflict, chat, contact, key};

pub async fn dedupe_marker_is_idempotent(s: &StoreUnderTest<impl Store>) {
    let id = InboundMessageId::new("msg-1").unwrap();
    let other = InboundMessageId::new("msg-2").unwrap();
    assert!(!s.store.is_processed(&id).await.unwrap());
    s.store
        .mark_processed(&id, Some(&contact("c-1")), s.now())
        .await
        .unwrap();
    s.store
        .mark_processed(&id, Some(&contact("c-1")), s.now())
        .await
        .unwrap();
    s.store.mark_processed(&other, None, s.now()).await.unwrap();
    assert!(s.store.is_processed(&id).await.unwrap());
    assert!(s.store.is_processed(&other).await.unwrap());
    assert!(
        !s.store
            .is_processed(&InboundMessageId::new("msg-3").unwrap())
            .await
            .unwrap()
    );
}

pub async fn expired_dedupe_marker_is_absent(s: &StoreUnderTest<impl Store>) {
    let id = InboundMessageId::new("msg-old").unwrap();
    s.store.mark_processed(&id, None, s.now()).await.unwrap();
    s.clock.advance(TimeDelta::days(7) - TimeDelta::seconds(1));
    assert!(
        s.store.is_processed(&id).await.unwrap(),
        "still within 7 days"
    );
    s.clock.advance(TimeDelta::seconds(1));
    // moto never deletes it and DynamoDB may take days: the read must say absent.
    assert!(!s.store.is_processed(&id).await.unwrap());
    s.store.mark_processed(&id, None, s.now()).await.unwrap();
    assert!(
        s.store.is_processed(&id).await.unwrap(),
        "marked again, live again"
    );
}

pub async fn session_and_marker_are_read_in_one_request(s: &StoreUnderTest<impl Store>) {
    let key = key(7001);
    let id = InboundMessageId::new("msg-batched").unwrap();
    // Nothing stored: no session, not processed, and the store answered both.
    assert_eq!(
        s.store.get_with_marker(&key, &id).await.unwrap(),
        (None, Some(false))
    );
    let session = active(&s.store, &key, 2, "c-batched", s.now()).await;
    s.store.mark_processed(&id, None, s.now()).await.unwrap();
    let (read, processed) = s.store.get_with_marker(&key, &id).await.unwrap();
    assert_eq!(read, Some(session));
    assert_eq!(processed, Some(true));
    // Another message of the same customer is not processed.
    let other = InboundMessageId::new("msg-other").unwrap();
    let (read, processed) = s.store.get_with_marker(&key, &other).await.unwrap();
    assert!(read.is_some());
    assert_eq!(processed, Some(false));
    // An expired marker counts as absent here too.
    s.clock.advance(TimeDelta::days(7));
    assert_eq!(
        s.store.get_with_marker(&key, &id).await.unwrap().1,
        Some(false)
    );
}

pub async fn put_marked_writes_the_session_and_the_marker_together_or_neither(
    s: &StoreUnderTest<impl Store>,
) {
    // GIVEN a starting session (v1)
    let key = key(7002);
    let id = InboundMessageId::new("msg-marked").unwrap();
    let created = s
        .store
        .put(&Session::first(key.clone(), 3, s.now()), None)
        .await
        .unwrap();
    let mut activated = created.activated(chat("c-marked", s.now()), s.now());
    activated.writer = Some("writer-marked".to_owned());
    let marker = Marker {
        id: id.clone(),
        contact_id: Some(contact("c-marked")),
        at: s.now(),
    };

    // WHEN a write with a stale version loses
    assert_conflict(s.store.put_marked(&activated, Some(7), &marker).await);
    // THEN neither the session nor the marker changed
    assert_eq!(s.store.get(&key).await.unwrap(), Some(created.clone()));
    assert!(!s.store.is_processed(&id).await.unwrap());

    // WHEN the write holds the right version
    let written = s
        .store
        .put_marked(&activated, Some(created.version), &marker)
        .await
        .unwrap();
    // THEN both are stored, and the returned session is the stored one
    assert_eq!(written.version, created.version + 1);
    assert_eq!(s.store.get(&key).await.unwrap(), Some(written.clone()));
    assert!(s.store.is_processed(&id).await.unwrap());
    assert_eq!(
        s.store.get_with_marker(&key, &id).await.unwrap(),
        (Some(written.clone()), Some(true))
    );
    // AND the session is listed for the relay, as after a put
    assert_eq!(
        s.store.active_in_shard(3).await.unwrap(),
        vec![written.clone()]
    );

    // WHEN the same write is sent again (an SDK retry after the first attempt applied)
    let repeated = s
        .store
        .put_marked(&activated, Some(created.version), &marker)
        .await
        .unwrap();
    // THEN it is recognised as already applied, not a conflict
    assert_eq!(repeated, written);
}

pub async fn a_resumed_text_is_marked_and_recorded_as_the_sessions_latest_activity(
    s: &StoreUnderTest<impl Store>,
) {
    // GIVEN an active session, its relay cursor written (which the mark must keep)
    let (key, absent) = (key(7003), key(7004));
    let session = active(&s.store, &key, 5, "c-resumed", s.now()).await;
    s.store
        .advance_cursor(
            &key,
            &contact("c-resumed"),
            &ItemId::new("i-1").unwrap(),
            s.now(),
        )
        .await
        .unwrap();
    let before = s.store.get(&key).await.unwrap().unwrap();

    // WHEN a text reaches its chat an hour later
    s.clock.advance(TimeDelta::hours(1));
    let id = InboundMessageId::new("msg-resumed").unwrap();
    let marker = Marker {
        id: id.clone(),
        contact_id: Some(contact("c-resumed")),
        at: s.now(),
    };
    s.store.mark_resumed(&key, &marker).await.unwrap();

    // THEN the text is marked, and the row says the session was active just now (what
    // the relay's index query reads), with nothing else changed
    assert!(s.store.is_processed(&id).await.unwrap());
    let after = s.store.get(&key).await.unwrap().unwrap();
    assert_eq!(after.updated_at, s.now());
    assert_eq!(
        after,
        Session {
            updated_at: s.now(),
            ..before.clone()
        }
    );
    assert_eq!(after.version, session.version);
    let listed = s.store.active_in_shard(5).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].updated_at, s.now());

    // WHEN a text of another chat is marked (the session moved on meanwhile)
    let stamped = s.now();
    s.clock.advance(TimeDelta::minutes(1));
    let other = InboundMessageId::new("msg-other-chat").unwrap();
    let other_marker = Marker {
        id: other.clone(),
        contact_id: Some(contact("c-earlier")),
        at: s.now(),
    };
    s.store.mark_resumed(&key, &other_marker).await.unwrap();
    // THEN it is marked, and the row keeps its own chat's activity
    assert!(s.store.is_processed(&other).await.unwrap());
    assert_eq!(
        s.store.get(&key).await.unwrap().unwrap().updated_at,
        stamped
    );

    // WHEN a text is marked for a session whose row has expired (or never was)
    s.clock.advance(TimeDelta::days(30) + TimeDelta::hours(2));
    let late = InboundMessageId::new("msg-late").unwrap();
    let marker = Marker {
        id: late.clone(),
        at: s.now(),
        ..marker
    };
    s.store.mark_resumed(&key, &marker).await.unwrap();
    let never = InboundMessageId::new("msg-never").unwrap();
    let marker = Marker {
        id: never.clone(),
        ..marker
    };
    s.store.mark_resumed(&absent, &marker).await.unwrap();
    // THEN each text is still marked, and no row comes back or appears
    assert!(s.store.is_processed(&late).await.unwrap());
    assert!(s.store.is_processed(&never).await.unwrap());
    assert_eq!(s.store.get(&key).await.unwrap(), None);
    assert_eq!(s.store.get(&absent).await.unwrap(), None);
}

/// A marker that names no chat (the port allows it) records the activity on the live row,
/// whichever chat it holds.
pub async fn a_resumed_text_of_no_named_chat_is_recorded_on_the_live_row(
    s: &StoreUnderTest<impl Store>,
) {
    // GIVEN an active session
    let key = key(7005);
    let session = active(&s.store, &key, 5, "c-unnamed", s.now()).await;

    // WHEN a text whose marker names no chat is marked an hour later
    s.clock.advance(TimeDelta::hours(1));
    let id = InboundMessageId::new("msg-unnamed").unwrap();
    let marker = Marker {
        id: id.clone(),
        contact_id: None,
        at: s.now(),
    };
    s.store.mark_resumed(&key, &marker).await.unwrap();

    // THEN it is marked, and the row says the session was active just now
    assert!(s.store.is_processed(&id).await.unwrap());
    let after = s.store.get(&key).await.unwrap().unwrap();
    assert_eq!(
        after,
        Session {
            updated_at: s.now(),
            ..session
        }
    );
}
