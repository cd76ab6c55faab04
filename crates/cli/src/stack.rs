//! The inbound handler, in-process, wired to the configured services exactly as the Lambda's
//! `main` wires it (same adapters, same configuration), plus timing wrappers.

use std::sync::Arc;

use aws_lambda_events::event::sns::SnsEvent;
use bridge_aws::{ClientSettings, Clients};
use bridge_core::PhoneNumber;
use bridge_core::config::Config;
use bridge_core::inbound::payload_json;
use bridge_inbound::envelope::wrap_in_sns_event;
use bridge_inbound::{Handler, Ports};

use crate::config::StackArgs;
use crate::meter::{Metered, Totals};

/// The topic ARN written into SNS events built locally (never published to).
pub const LOCAL_TOPIC_ARN: &str = "arn:aws:sns:us-east-1:000000000000:bridge-local-inbound";

/// The handler and what it was built from.
pub struct Stack {
    /// The inbound handler.
    pub handler: Arc<Handler>,
    /// The SDK clients (the demo and `init-table` use them directly).
    pub clients: Clients,
    /// Time spent in each service, for `--timings`.
    pub totals: Arc<Totals>,
}

impl Stack {
    /// Builds the clients, the adapters and the handler.
    ///
    /// # Errors
    /// An invalid bridge configuration.
    pub async fn build(args: &StackArgs) -> anyhow::Result<Self> {
        let config = args.bridge_config()?;
        let clients = args.clients(&ClientSettings::default()).await;
        Ok(Self::from_parts(config, clients))
    }

    /// Builds the adapters and the handler over existing clients.
    pub fn from_parts(config: Config, clients: Clients) -> Self {
        let totals = Arc::new(Totals::default());
        // The Lambda's own wiring, each port timed.
        let aws = Ports::aws(&clients, &config);
        let ports = Ports {
            sessions: Arc::new(Metered::new(aws.sessions, totals.clone())),
            dedupe: Arc::new(Metered::new(aws.dedupe, totals.clone())),
            chat: Arc::new(Metered::new(aws.chat, totals.clone())),
            sms: Arc::new(Metered::new(aws.sms, totals.clone())),
            clock: aws.clock,
        };
        Self {
            handler: Arc::new(Handler::new(ports, config)),
            clients,
            totals,
        }
    }

    /// The bridge configuration the handler runs with.
    pub fn config(&self) -> &Config {
        self.handler.config()
    }
}

/// One text typed by a person (`bridge sms`, the phone page), as End User Messaging would
/// deliver it: a two-way payload with a fresh `inboundMessageId`, inside an SNS event.
pub fn typed_sms_event(from: &PhoneNumber, to: &PhoneNumber, body: &str) -> SnsEvent {
    let id = uuid::Uuid::new_v4().to_string();
    let payload = payload_json(from, to, body, &id);
    wrap_in_sns_event(
        &payload,
        &uuid::Uuid::new_v4().to_string(),
        LOCAL_TOPIC_ARN,
        chrono::Utc::now(),
    )
}
