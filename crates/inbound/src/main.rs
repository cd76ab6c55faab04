//! Lambda entry point for `bridge-inbound`: configuration, logging, adapters, run.
//!
//! Everything else is the library's [`bridge_inbound::Handler`]. The adapters are built
//! once, before the first event, and shared by every invocation; of the AWS clients only
//! DynamoDB's is built then, the others when an event first needs them
//! (`Ports::aws_on_first_use`).

use std::sync::Arc;

use aws_lambda_events::event::sns::SnsEvent;
use bridge_aws::ClientSettings;
use bridge_core::config::Config;
use bridge_core::usage::{Program, Request};
use bridge_inbound::config::LogConfig;
use bridge_inbound::{Handler, Ports};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

/// What `bridge-inbound --help` says.
const PROGRAM: Program<'static> = Program {
    name: "bridge-inbound",
    version: env!("CARGO_PKG_VERSION"),
    about: "The inbound AWS Lambda function of the SMS <-> Amazon Connect chat bridge: takes the\n\
            SNS events of inbound SMS (AWS End User Messaging two-way) and puts each text into the\n\
            customer's Connect chat, starting one when none is open. Runs under the Lambda\n\
            Runtime API (AWS_LAMBDA_RUNTIME_API), which Lambda sets; `bridge sms` runs the same\n\
            handler locally.",
    commands: &[],
    vars: &[
        ("Bridge", &bridge_core::config::VARS),
        ("AWS SDK", &bridge_core::usage::AWS_VARS),
        ("Logging", &bridge_inbound::config::VARS),
    ],
};

/// One thread: a Lambda execution environment hands the function one event at a time, the
/// handler waits on I/O, and at small memory sizes the function gets a fraction of a vCPU.
/// Worker threads only add wake-ups: `make bench-inbound` measured 1.34 ms of CPU per
/// resumed text on the multi-thread runtime, 1.04 ms on this one.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    match PROGRAM.request(std::env::args().skip(1)) {
        Request::Run | Request::Command(_) => {}
        Request::Help(text) | Request::Version(text) => {
            print!("{text}");
            return Ok(());
        }
        Request::Usage(text) => {
            eprint!("{text}");
            std::process::exit(2);
        }
    }
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

    let shared = ClientSettings::default().apply(&bridge_aws::load_shared().await);
    let ports = Ports::aws_on_first_use(&shared, &config);
    let handler = Arc::new(Handler::new(ports, config));

    run(service_fn(move |event: LambdaEvent<SnsEvent>| {
        let handler = Arc::clone(&handler);
        async move { handler.handle_lambda(event).await }
    }))
    .await
}
