//! UpdateParticipantRoleConfig: the customer's chat timers (docs/connect-chat.md §6.1).

use aws_sdk_connect::Client;
use aws_sdk_connect::types::{
    ChatParticipantRoleConfig, ParticipantTimerConfiguration, ParticipantTimerType,
    ParticipantTimerValue, TimerEligibleParticipantRoles, UpdateParticipantRoleConfigChannelInfo,
};
use bridge_core::ids::{ContactId, InstanceId};
use bridge_core::ports::{ChatError, IdleTimers};

use crate::error::{ChatService, RequestError, chat_error};

const UPDATE_ROLE_CONFIG: &str = "UpdateParticipantRoleConfig";

fn build_error(source: aws_smithy_types::error::operation::BuildError) -> ChatError {
    ChatError::Invalid(Box::new(RequestError::Build {
        operation: UPDATE_ROLE_CONFIG,
        source: source.into(),
    }))
}

/// The CUSTOMER role's timers, only those configured: a timer the bridge does not set is
/// left as it is, not unset.
fn customer_timers(timers: IdleTimers) -> Result<ChatParticipantRoleConfig, ChatError> {
    let list = [
        (ParticipantTimerType::Idle, timers.idle),
        (
            ParticipantTimerType::DisconnectNoncustomer,
            timers.disconnect,
        ),
    ]
    .into_iter()
    .filter_map(|(kind, minutes)| minutes.map(|minutes| (kind, minutes)))
    .map(|(kind, minutes)| {
        ParticipantTimerConfiguration::builder()
            .participant_role(TimerEligibleParticipantRoles::Customer)
            .timer_type(kind)
            .timer_value(ParticipantTimerValue::ParticipantTimerDurationInMinutes(
                i32::from(minutes),
            ))
            .build()
            .map_err(build_error)
    })
    .collect::<Result<Vec<_>, _>>()?;
    ChatParticipantRoleConfig::builder()
        .set_participant_timer_config_list(Some(list))
        .build()
        .map_err(build_error)
}

pub(super) async fn set_customer_timers(
    client: &Client,
    instance_id: &InstanceId,
    contact_id: &ContactId,
    timers: IdleTimers,
) -> Result<(), ChatError> {
    client
        .update_participant_role_config()
        .instance_id(instance_id.as_str())
        .contact_id(contact_id.as_str())
        .channel_configuration(UpdateParticipantRoleConfigChannelInfo::Chat(
            customer_timers(timers)?,
        ))
        .send()
        .await
        .map(|_| ())
        .map_err(|error| chat_error(error, ChatService::Admin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_timers_are_sent_for_the_customer() {
        let config = customer_timers(IdleTimers {
            idle: None,
            disconnect: Some(45),
        })
        .unwrap();
        let [timer] = config.participant_timer_config_list() else {
            panic!("{config:?}");
        };
        assert_eq!(
            timer.participant_role(),
            &TimerEligibleParticipantRoles::Customer
        );
        assert_eq!(
            timer.timer_type(),
            &ParticipantTimerType::DisconnectNoncustomer
        );
        assert_eq!(
            timer.timer_value(),
            Some(&ParticipantTimerValue::ParticipantTimerDurationInMinutes(
                45
            ))
        );
        let both = customer_timers(IdleTimers {
            idle: Some(10),
            disconnect: Some(20),
        })
        .unwrap();
        assert_eq!(both.participant_timer_config_list().len(), 2);
    }
}
