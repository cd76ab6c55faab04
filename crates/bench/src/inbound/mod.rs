//! The inbound handler with the real adapters and counted AWS clients, against DynamoDB
//! Local (or moto's DynamoDB), moto's SNS and a connect-sim, for `inbound-bench` and the
//! tests that hold the call budgets.
//!
//! [`Stack`] is what `bridge-inbound`'s `main` wires (the `bridge-aws` adapters over the
//! SDK clients, the bridge's client settings) with a [`CallLog`] on every client, plus
//! connect-sim's control API ([`SimControl`]) the scenarios use to play the agent.
//! [`paths`] drives one inbound SMS down each path the handler has and records the AWS
//! calls it made.

pub mod paths;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use aws_lambda_events::event::sns::SnsEvent;
use bridge_aws::{ClientSettings, Clients};
use bridge_cli::config::Dynamodb;
use bridge_core::PhoneNumber;
use bridge_core::config::Config;
use bridge_core::ports::SessionStore;
use bridge_core::session::{Session, SessionKey};
use bridge_inbound::envelope::wrap_in_sns_event;
use bridge_inbound::{Handler, HandlerError, Outcome, Ports};
use bridge_testkit::emulators::{self, Endpoints};
use bridge_testkit::{SimControl, emulator_config, fresh};
use chrono::Utc;
use serde_json::json;

use crate::calls::{self, CallLog};

/// The support number every scenario texts.
pub const SUPPORT: &str = "+18005550100";
/// A number that is not a support line.
pub const UNKNOWN_SUPPORT: &str = "+18005550142";
const INSTANCE: &str = "11111111-2222-3333-4444-555555555555";
const FLOW: &str = "22222222-3333-4444-5555-666666666666";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:inbound-sms";

/// Who wires the handler over the counted clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wiring {
    /// `bridge-inbound`'s `main` ([`Ports::aws`]).
    Lambda,
    /// The `bridge` command (`bridge sms`, `bridge replay`, the demo's phone page): the
    /// same adapters behind its timing wrappers, which must not change a single call.
    Cli,
}

/// Where the emulators the handler talks to are: a DynamoDB and moto (SNS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Services {
    /// The DynamoDB endpoint: DynamoDB Local, or moto's.
    pub dynamodb: String,
    /// moto's endpoint (SNS).
    pub moto: String,
}

impl Services {
    /// `dynamodb`'s endpoint and moto's, with moto at `moto`.
    pub fn new(dynamodb: &Dynamodb, moto: &str) -> Self {
        let moto = moto.trim_end_matches('/').to_owned();
        Self {
            dynamodb: dynamodb.endpoint(&moto),
            moto,
        }
    }

    /// As [`Self::new`], with moto where `scripts/with-emulators.sh` says
    /// ([`emulators::moto`]; DynamoDB Local from `DYNAMODB_LOCAL_PORT`).
    ///
    /// # Panics
    /// When the emulators' variables are not set: for tests.
    pub fn from_env(dynamodb: &Dynamodb) -> Self {
        Self::new(dynamodb, &emulators::moto())
    }
}

/// The inbound handler over the real adapters, against the emulators and a connect-sim.
pub struct Stack {
    /// Where DynamoDB and SNS are.
    pub services: Services,
    /// connect-sim's control API (its base URL is `sim.base_url()`).
    pub sim: SimControl,
    /// This stack's own table.
    pub table: String,
    /// The handler, as the Lambda builds it.
    pub handler: Arc<Handler>,
    /// Every AWS call the handler's clients made.
    pub log: CallLog,
    store: Arc<dyn SessionStore>,
}

impl Stack {
    /// Creates a fresh table in `services`' DynamoDB and builds the handler over counted
    /// clients.
    ///
    /// # Errors
    /// When the table cannot be created or the configuration is refused.
    pub async fn new(services: &Services, sim: &str) -> anyhow::Result<Self> {
        Self::with_wiring(services, sim, Wiring::Lambda).await
    }

    /// As [`Self::new`], with the handler wired as `wiring` wires it.
    ///
    /// # Errors
    /// When the table cannot be created or the configuration is refused.
    pub async fn with_wiring(
        services: &Services,
        sim: &str,
        wiring: Wiring,
    ) -> anyhow::Result<Self> {
        let settings = ClientSettings::default();
        let log = CallLog::new();
        let sns = calls::clients(&emulator_config(&services.moto), &settings, &log);
        let dynamodb = calls::clients(&emulator_config(&services.dynamodb), &settings, &log);
        let connect = calls::clients(&emulator_config(sim), &settings, &log);
        let table = fresh::name("inbound-bench");
        bridge_aws::dynamo::create_table(&dynamodb.dynamodb, &table)
            .await
            .with_context(|| format!("creating table {table} at {}", services.dynamodb))?;
        let vars = Self::config_vars(&table);
        let config = Config::from_lookup(|name| vars.get(name).cloned())
            .context("the bench's configuration")?;
        // DynamoDB in its engine, SNS in moto, Connect in the sim: the counted clients, so
        // not `bridge_testkit::emulators::local_clients`.
        let clients = Clients {
            dynamodb: dynamodb.dynamodb,
            connect: connect.connect,
            participant: connect.participant,
            sms_voice: connect.sms_voice,
            ..sns
        };
        let store = Ports::aws(&clients, &config).sessions;
        let handler = match wiring {
            Wiring::Lambda => Arc::new(Handler::new(Ports::aws(&clients, &config), config)),
            Wiring::Cli => bridge_cli::stack::Stack::from_parts(config, clients).handler,
        };
        log.take(); // the table's creation is not the handler's
        Ok(Self {
            services: services.clone(),
            sim: SimControl::new(sim)?,
            table,
            handler,
            log,
            store,
        })
    }

    fn config_vars(table: &str) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("BRIDGE_CONNECT_INSTANCE_ID", INSTANCE.to_owned()),
            ("BRIDGE_SUPPORT_LINES", format!("{SUPPORT}={FLOW}")),
            ("BRIDGE_TABLE_NAME", table.to_owned()),
            (
                "BRIDGE_HELP_TEXT",
                "Text us your question. STOP to opt out.".to_owned(),
            ),
        ])
    }

    /// The environment the `bridge-inbound` binary needs to run against this stack's
    /// table, its DynamoDB, moto and connect-sim (the Lambda platform's own variables excluded).
    pub fn lambda_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Self::config_vars(&self.table)
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let endpoints = Endpoints {
            dynamodb: self.services.dynamodb.clone(),
            sns: self.services.moto.clone(),
            connect: self.sim.base_url().to_owned(),
            sms_voice: None,
            s3: None,
        };
        // Only what Lambda gives a function: it sets no AWS_EC2_METADATA_DISABLED, and the
        // start-up measured (`inbound-bench startup`) is the one Lambda would see.
        env.extend(
            endpoints
                .env()
                .into_iter()
                .filter(|(name, _)| *name != "AWS_EC2_METADATA_DISABLED")
                .map(|(name, value)| (name.to_owned(), value)),
        );
        env
    }

    /// An SNS event carrying one text from `from` to `to`, with inbound message id `id`.
    pub fn event_to(&self, id: &str, from: &str, to: &str, body: &str) -> SnsEvent {
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

    /// An SNS event carrying one text from `from` to the support number.
    pub fn event(&self, id: &str, from: &str, body: &str) -> SnsEvent {
        self.event_to(id, from, SUPPORT, body)
    }

    /// Handles `event`, which carries one record, and returns that record's outcome.
    ///
    /// # Errors
    /// The handler's error (retriable or not).
    pub async fn handle(&self, event: SnsEvent) -> Result<Outcome, HandlerError> {
        let summary = self.handler.handle_event(event).await?;
        Ok(summary
            .records
            .into_iter()
            .next()
            .map_or(Outcome::Duplicate, |record| record.outcome))
    }

    /// Handles a new text (fresh inbound message id) from `from`.
    ///
    /// # Errors
    /// The handler's error (retriable or not).
    pub async fn text(&self, from: &str, body: &str) -> Result<Outcome, HandlerError> {
        self.handle(self.event(&fresh::name("sms"), from, body))
            .await
    }

    /// The session of `from` with the support number.
    ///
    /// # Errors
    /// When `from` is not E.164 or the store fails.
    pub async fn session(&self, from: &str) -> anyhow::Result<Option<Session>> {
        let key = SessionKey::new(PhoneNumber::parse(from)?, PhoneNumber::parse(SUPPORT)?);
        Ok(self.store.get(&key).await?)
    }
}
