//! Delivering an accepted text: its events published in order, its final event recorded.
//!
//! One task per text, owned by the emulator's task tracker and ended by its cancellation
//! token: `TEXT_SUCCESSFUL` first (`isFinal: false`), then, after
//! [`crate::SimConfig::sms_delivery_delay`], the final event is recorded for
//! `GET /sim/sms/messages` and published. Texts are independent, so the events of two texts
//! may interleave, as SNS does not order them either.

use std::sync::Arc;

use super::event::EventType;
use super::service::Delivery;
use crate::state::Shared;

/// Runs `delivery` until it is done or the emulator stops.
pub async fn deliver(shared: Arc<Shared>, delivery: Delivery) {
    tokio::select! {
        () = shared.cancel.cancelled() => {}
        () = run(&shared, &delivery) => {}
    }
}

async fn run(shared: &Shared, delivery: &Delivery) {
    publish(shared, delivery, EventType::Successful).await;
    let delay = shared.config.sms_delivery_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // A reset in between forgot the text: its story ends here.
    if !shared.sms(|sms| sms.record_final(delivery)) {
        return;
    }
    publish(shared, delivery, delivery.final_event).await;
}

async fn publish(shared: &Shared, delivery: &Delivery, kind: EventType) {
    let Some(destination) = &delivery.destination else {
        return;
    };
    let event = delivery.event(kind, shared.clock.now().wall);
    match serde_json::to_string(&event) {
        Ok(message) => {
            shared
                .sns
                .publish(destination, delivery.message_id(), &message)
                .await;
        }
        Err(error) => {
            tracing::error!(%error, message_id = %delivery.message_id(), "sms event not serialized");
        }
    }
}
