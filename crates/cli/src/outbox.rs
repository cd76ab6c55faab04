//! `bridge outbox`: the SMS the bridge sent, as the local emulators recorded them.
//!
//! Through SNS (the default sender): moto keeps every SMS published to a phone number in
//! its state dump (`GET /moto-api/data.json` → `sns.SMS`, a list in sending order of
//! `{message, message_id, phone_number}`). moto keeps no message attributes, so not the
//! origination number either (docs/local-stack.md §2): the outbox shows the recipient and
//! the text. Through End User Messaging (`BRIDGE_SMS_API=end-user-messaging`): connect-sim
//! stands in for it and lists what it accepted at `GET /sim/sms/messages`. Both are read.
//! `--follow` polls the lists and prints what was appended; a shorter list means that
//! emulator was reset, and it starts over.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bridge_core::PhoneNumber;
pub use bridge_testkit::moto::SentSms;
use bridge_testkit::{Moto, SimControl};

use crate::config::{StackArgs, phone};

/// No emulator answer may take longer: the phone page and the demo script poll the
/// emulators within their own limits, and an End User Messaging outbox that does not
/// answer in time counts as empty.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the emulators' outboxes.
#[derive(Clone, Debug)]
pub struct Outbox {
    moto: Moto,
    /// connect-sim's list of End User Messaging SMS, when it is known.
    sim: Option<SimControl>,
}

impl Outbox {
    /// The outbox of the moto server at `moto` (`http://host:port`).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(moto: &str) -> anyhow::Result<Self> {
        Ok(Self {
            moto: Moto::with_client(emulator_client()?, moto),
            sim: None,
        })
    }

    /// Also reads what connect-sim at `sim` accepted as End User Messaging.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn with_sim(mut self, sim: &str) -> anyhow::Result<Self> {
        self.sim = Some(SimControl::with_client(emulator_client()?, sim));
        Ok(self)
    }

    /// Every SMS sent so far, oldest first: SNS's, then End User Messaging's.
    ///
    /// # Errors
    /// An emulator unreachable, or an unexpected answer.
    pub async fn fetch(&self) -> anyhow::Result<Vec<SentSms>> {
        let (mut sns, eum) = self.fetch_each().await?;
        sns.extend(eum);
        Ok(sns)
    }

    /// What each sender sent, oldest first: (SNS, End User Messaging).
    async fn fetch_each(&self) -> anyhow::Result<(Vec<SentSms>, Vec<SentSms>)> {
        let sns = self.moto.sms().await?;
        // connect-sim may be down, or a build without the End User Messaging stand-in:
        // then nothing was sent through it.
        let eum = match &self.sim {
            Some(sim) => match sim.sms_messages().await {
                Ok(messages) => messages
                    .into_iter()
                    .map(|sms| SentSms {
                        phone_number: sms.destination_phone_number,
                        message: sms.message_body,
                        message_id: sms.message_id,
                    })
                    .collect(),
                Err(error) => {
                    tracing::debug!(error = %format!("{error:#}"), "no end user messaging outbox");
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        Ok((sns, eum))
    }

    /// The SMS sent to `to`, oldest first.
    ///
    /// # Errors
    /// As [`Self::fetch`].
    pub async fn fetch_to(&self, to: &PhoneNumber) -> anyhow::Result<Vec<SentSms>> {
        let mut all = self.fetch().await?;
        all.retain(|sms| sms.phone_number == to.as_e164());
        Ok(all)
    }
}

/// A client for the emulators, bounded by [`REQUEST_TIMEOUT`].
pub(crate) fn emulator_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the http client")
}

/// `bridge outbox` flags.
#[derive(Debug, clap::Args)]
pub struct OutboxArgs {
    /// Keep watching and print new SMS as they are sent (Ctrl-C stops).
    #[arg(long, short)]
    pub follow: bool,
    /// Only SMS to this number.
    #[arg(long, value_parser = phone)]
    pub to: Option<PhoneNumber>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// How often `--follow` looks, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub interval_ms: u64,
}

/// Runs `bridge outbox`.
///
/// # Errors
/// Not in local mode, or moto unreachable.
pub async fn run(stack_args: &StackArgs, args: OutboxArgs) -> anyhow::Result<ExitCode> {
    let Some(moto) = stack_args.moto() else {
        bail!("the outbox is read from the local SNS emulator (moto): drop --aws");
    };
    let mut outbox = Outbox::new(&moto)?;
    if let Some(sim) = stack_args.connect() {
        outbox = outbox.with_sim(&sim)?;
    }
    let mut seen = [0usize; 2];
    let mut interval = tokio::time::interval(Duration::from_millis(args.interval_ms.max(50)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (sns, eum) = outbox.fetch_each().await?;
        for ((list, seen), name) in [sns, eum]
            .iter()
            .zip(&mut seen)
            .zip(["moto", "connect-sim"])
        {
            if list.len() < *seen {
                println!("({name} was reset: starting over)");
                *seen = 0;
            }
            for sms in &list[*seen..] {
                if args
                    .to
                    .as_ref()
                    .is_some_and(|to| to.as_e164() != sms.phone_number)
                {
                    continue;
                }
                print_sms(sms, args.json)?;
            }
            *seen = list.len();
        }
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            _ = interval.tick() => {}
            signal = tokio::signal::ctrl_c() => {
                signal.context("listening for ctrl-c")?;
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

fn print_sms(sms: &SentSms, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(sms).context("writing json")?);
    } else {
        println!("to {}: {}", sms.phone_number, sms.message);
    }
    Ok(())
}
