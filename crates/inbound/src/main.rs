//! Lambda entry point for `bridge-inbound`: configuration, logging, adapters, run.
//!
//! Everything else is the library's [`bridge_inbound::Handler`]. The AWS clients and
//! adapters are built once, before the first event, and shared by every invocation.

use std::sync::Arc;

use aws_lambda_events::event::sns::SnsEvent;
use bridge_aws::{
    ClientSettings, Clients, ConnectChat, DynamoSettings, DynamoStore, SmsType, SnsSender,
};
use bridge_core::config::Config;
use bridge_core::ports::SystemClock;
use bridge_inbound::config::LogConfig;
use bridge_inbound::{Handler, Ports};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    bridge_inbound::logging::init(&LogConfig::from_env())?;
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            // Every problem at once, by variable name; the runtime reports the init error.
            tracing::error!(%error, "invalid configuration");
            return Err(error.into());
        }
    };
    tracing::info!(?config, "configuration loaded");

    let clients = Clients::from_env(&ClientSettings::default()).await;
    let clock = Arc::new(SystemClock);
    let store = Arc::new(
        DynamoStore::new(
            clients.dynamodb.clone(),
            config.table_name.as_str(),
            DynamoSettings {
                shard_count: config.shard_count,
                ..DynamoSettings::default()
            },
        )
        .with_clock(clock.clone()),
    );
    let ports = Ports {
        sessions: store.clone(),
        dedupe: store,
        chat: Arc::new(ConnectChat::new(clients.connect, clients.participant)),
        sms: Arc::new(SnsSender::new(clients.sns, SmsType::Transactional)),
        clock,
    };
    let handler = Arc::new(Handler::new(ports, config));

    run(service_fn(move |event: LambdaEvent<SnsEvent>| {
        let handler = Arc::clone(&handler);
        async move { handler.handle_lambda(event).await }
    }))
    .await
}
