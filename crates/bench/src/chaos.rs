//! The chaos run: many chats through the whole local stack while things go wrong, then a
//! count of what reached Connect and what reached the phones.
//!
//! The stack: connect-sim (writing ended chats' transcripts to moto's S3, as Connect does),
//! DynamoDB Local for the sessions and moto for SNS, each behind a [`FaultProxy`], the
//! inbound handler in this process (a failed invocation is retried, as Lambda retries it,
//! and some texts are delivered twice at once, as SNS may), and two `bridge-relay`
//! processes. Customers text and agents reply in rounds; meanwhile relays are killed with
//! SIGKILL and restarted, one is stopped with SIGTERM (a hand-over), DynamoDB throttles
//! and SNS answers 500 in bursts, every socket is dropped, agents end chats while a relay
//! is down, and one customer texts STOP mid-chat.
//!
//! What must hold (ARCHITECTURE.md, "Failure model"): every customer text is in Connect
//! exactly once; every agent reply reaches the phone, at most one duplicate per session per
//! crash; every ended chat's closing text arrives; nothing reaches the number that texted
//! STOP after it did; every process exits cleanly; no log line, of the relays or of the
//! handler, carries a full phone number or a chat's token (faults make the SDKs' error
//! text reach the logs, and that text can quote a request). [`run`] checks each and
//! returns the figures; `make chaos` runs it at 500 chats, and `make test` a short version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use bridge_aws::dynamo::{DynamoSettings, DynamoStore};
use bridge_aws::{ClientSettings, Clients};
use bridge_core::PhoneNumber;
use bridge_core::config::Config;
use bridge_core::ports::SessionStore;
use bridge_core::session::SessionKey;
use bridge_inbound::config::{LogConfig, LogFormat};
use bridge_inbound::envelope::wrap_in_sns_event;
use bridge_inbound::{Handler, Outcome, Ports};
use bridge_testkit::emulators::{Endpoints, local_clients};
use bridge_testkit::{
    Fault, FaultProxy, Moto, Rule, SimControl, SimProcess, emulator_config, fresh,
};
use futures_util::StreamExt;
use futures_util::stream;
use serde_json::json;
use tokio::process::{Child, Command};
use tracing::instrument::WithSubscriber as _;

const SUPPORT: &str = "+18005550100";
const FLOW: &str = "chaos-flow";
const INSTANCE: &str = "chaos-instance";
const CLOSING: &str = "This chat has ended. Text us again any time.";
/// Inbound texts handled at once.
const CONCURRENCY: usize = 16;
/// How long a text may keep failing (Lambda retries for hours; the run, not that long).
const TEXT_DEADLINE: Duration = Duration::from_secs(120);
/// How long the replies may take to arrive once everything is back.
const SETTLE: Duration = Duration::from_secs(180);

/// The run's shape.
#[derive(Clone, Debug)]
pub struct Params {
    /// Chats (one customer each).
    pub chats: usize,
    /// SIGKILLs of a relay (each restarted).
    pub kills: usize,
    /// Where `bridge-relay` and `connect-sim` are.
    pub bin_dir: PathBuf,
    /// moto (SNS, S3).
    pub moto: String,
    /// DynamoDB Local.
    pub dynamodb: String,
}

/// What the run saw.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Chats started (new chats after an agent ended one included).
    pub chats_started: usize,
    /// Customer texts sent (each once in Connect).
    pub texts: usize,
    /// Texts delivered twice at once, as SNS may.
    pub redelivered: usize,
    /// Handler invocations that failed and were retried.
    pub retried_invocations: usize,
    /// Agent replies sent (each reached the phone).
    pub replies: usize,
    /// Chats the agent ended (each got its closing text).
    pub ended: usize,
    /// SMS beyond the first copy, in all.
    pub duplicates: usize,
    /// The most duplicates in one session.
    pub max_duplicates_per_session: usize,
    /// Relays killed with SIGKILL.
    pub kills: usize,
    /// Relays stopped with SIGTERM (hand-overs).
    pub handovers: usize,
    /// Requests the fault proxies answered with an error.
    pub faults: u64,
    /// Log lines checked for phone numbers and tokens (the relays' and the handler's).
    pub log_lines: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl Figures {
    /// The figures as a markdown table.
    pub fn markdown(&self) -> String {
        format!(
            "| what | figure |\n|---|---:|\n\
             | chats started | {} |\n| customer texts (each once in Connect) | {} |\n\
             | texts delivered twice at once (deduplicated) | {} |\n\
             | failed invocations retried | {} |\n\
             | agent replies (each reached the phone) | {} |\n\
             | chats ended by the agent (each closing text arrived) | {} |\n\
             | relays killed (SIGKILL) / handed over (SIGTERM) | {} / {} |\n\
             | requests faulted (throttling, 5xx) | {} |\n\
             | duplicate SMS in all / most in one session | {} / {} |\n\
             | log lines checked, none with a full phone number or a token | {} |\n\
             | wall time | {:.0} s |\n",
            self.chats_started,
            self.texts,
            self.redelivered,
            self.retried_invocations,
            self.replies,
            self.ended,
            self.kills,
            self.handovers,
            self.faults,
            self.duplicates,
            self.max_duplicates_per_session,
            self.log_lines,
            self.elapsed.as_secs_f64()
        )
    }
}

/// A relay process.
struct Relay {
    child: Child,
    admin: String,
}

/// One customer and what it sent and expects.
#[derive(Clone, Debug)]
struct Customer {
    phone: String,
    /// The chat in progress (its contact id).
    contact: Option<String>,
    /// Every chat it had.
    contacts: Vec<String>,
    /// Texts sent, each expected once in Connect.
    texts: Vec<String>,
    /// Agent replies sent, each expected on the phone.
    replies: Vec<String>,
    /// Chats the agent ended (a closing text each).
    ended: usize,
    /// Texted STOP: no SMS after `sms_at_stop`.
    stopped: bool,
    sms_at_stop: usize,
}

struct Run {
    params: Params,
    /// For the relays' readiness.
    http: reqwest::Client,
    sim: SimProcess,
    /// The agents' side of connect-sim.
    control: SimControl,
    /// moto's outbox.
    moto: Moto,
    dynamodb: FaultProxy,
    sns: FaultProxy,
    handler: Arc<Handler>,
    /// The handler's log (JSON, INFO, as in Lambda), written to `logs/inbound.log`.
    inbound_log: tracing::Dispatch,
    /// The sessions, read past the fault proxy.
    sessions: Arc<dyn SessionStore>,
    /// What no log line may hold: every chat's participant and connection tokens, and each
    /// customer's number as bare digits.
    secrets: Vec<String>,
    relays: Vec<Relay>,
    relay_env: Vec<(String, String)>,
    figures: Figures,
    next_id: u64,
    /// Where the relays' logs go.
    logs: PathBuf,
}

/// Runs the chaos scenario and checks the outcome.
///
/// # Errors
/// When the stack cannot be started, or any property fails (the error says which).
pub async fn run(params: Params) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let mut run = Run::start(params).await?;
    let outcome = run.scenario().await;
    let stopped = run.stop().await;
    let logs = run.logs.clone();
    let mut figures = outcome
        .and_then(|figures| stopped.map(|()| figures))
        .and_then(|mut figures| {
            figures.log_lines = scan_logs(&logs, &run.secrets)?;
            Ok(figures)
        })
        .with_context(|| format!("the logs are in {}", logs.display()))?;
    // A passed run's logs are not worth keeping.
    let _ = std::fs::remove_dir_all(&logs);
    figures.elapsed = started.elapsed();
    Ok(figures)
}

impl Run {
    async fn start(params: Params) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let bucket = fresh::name("chaos");
        let logs = std::env::temp_dir().join(&bucket);
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let prefix = "connect/chaos/ChatTranscripts";
        // connect-sim writes ended chats' transcripts to moto's S3, as Connect does.
        let transcripts = format!("s3://{bucket}/{prefix}");
        let sim = SimProcess::spawn(
            &params.bin_dir.join("connect-sim"),
            &[
                "--concurrent-chat-limit",
                "0",
                "--transcript-s3",
                &transcripts,
                "--s3-endpoint",
                &params.moto,
            ],
        )
        .await?;
        let control = SimControl::new(&sim.url)?;
        let moto = Moto::new(&params.moto)?;
        let dynamodb = FaultProxy::start(&params.dynamodb).await?;
        let sns = FaultProxy::start(&params.moto).await?;
        let table = fresh::name("chaos");
        // The bridge's own timeouts: how it rides out the faults is what is checked.
        let settings = ClientSettings::default();
        let direct = Clients::new(&emulator_config(&params.dynamodb), &settings);
        bridge_aws::dynamo::create_table(&direct.dynamodb, &table)
            .await
            .context("creating the table")?;
        let vars: BTreeMap<&str, String> = BTreeMap::from([
            ("BRIDGE_CONNECT_INSTANCE_ID", INSTANCE.to_owned()),
            ("BRIDGE_SUPPORT_LINES", format!("{SUPPORT}={FLOW}")),
            ("BRIDGE_TABLE_NAME", table.clone()),
            ("BRIDGE_SHARD_COUNT", "8".to_owned()),
            ("BRIDGE_JOINED_NOTICE", "false".to_owned()),
            ("BRIDGE_CLOSING_TEXT", CLOSING.to_owned()),
            ("BRIDGE_START_TAKEOVER_SECS", "5".to_owned()),
        ]);
        let config = Config::from_lookup(|name| vars.get(name).cloned())?;
        // DynamoDB and SNS behind the fault proxies, S3 in moto, Connect in the sim.
        let endpoints = Endpoints {
            dynamodb: dynamodb.url(),
            sns: sns.url(),
            connect: sim.url.clone(),
            sms_voice: None,
            s3: Some(params.moto.clone()),
        };
        let clients = local_clients(&endpoints, &settings);
        let sessions: Arc<dyn SessionStore> = Arc::new(DynamoStore::new(
            direct.dynamodb.clone(),
            &table,
            DynamoSettings::default(),
        ));
        let handler = Arc::new(Handler::new(Ports::aws(&clients, &config), config));
        let inbound_log = std::fs::File::create(logs.join("inbound.log"))
            .context("creating the handler's log")?;
        let inbound_log = tracing::Dispatch::from(bridge_inbound::logging::subscriber(
            &LogConfig {
                filter: "info".to_owned(),
                format: LogFormat::Json,
            },
            std::sync::Mutex::new(inbound_log),
        ));
        let mut relay_env: Vec<(String, String)> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        relay_env.extend(
            endpoints
                .env()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value)),
        );
        for (name, value) in [
            ("BRIDGE_RELAY_LEASE_TTL_MS", "6000".to_owned()),
            ("BRIDGE_RELAY_LEASE_RENEW_MS", "2000".to_owned()),
            ("BRIDGE_RELAY_DISCOVERY_MS", "250".to_owned()),
            ("BRIDGE_RELAY_CALL_TIMEOUT_MS", "5000".to_owned()),
            ("BRIDGE_RELAY_DRAIN_MS", "5000".to_owned()),
            ("BRIDGE_RELAY_CONNECT_RATE", "0".to_owned()),
            ("BRIDGE_RELAY_BACKOFF_CAP_MS", "2000".to_owned()),
            (
                "BRIDGE_RELAY_TRANSCRIPT_S3",
                format!("s3://{bucket}/{prefix}"),
            ),
            ("BRIDGE_RELAY_TRANSCRIPT_WAIT_SECS", "60".to_owned()),
            ("BRIDGE_RELAY_LOG_FORMAT", "json".to_owned()),
            // INFO, as deployed, so every line a deployment logs is checked for phone
            // numbers and tokens; `CHAOS_RELAY_LOG=debug` shows more when a run fails.
            (
                "RUST_LOG",
                std::env::var("CHAOS_RELAY_LOG").unwrap_or_else(|_| "info".to_owned()),
            ),
        ] {
            relay_env.push((name.to_owned(), value));
        }
        let mut run = Self {
            params,
            http,
            sim,
            control,
            moto,
            dynamodb,
            sns,
            handler,
            inbound_log,
            sessions,
            secrets: Vec::new(),
            relays: Vec::new(),
            relay_env,
            figures: Figures::default(),
            next_id: 0,
            logs,
        };
        for _ in 0..2 {
            let relay = run.spawn_relay().await?;
            run.relays.push(relay);
        }
        Ok(run)
    }

    async fn scenario(&mut self) -> anyhow::Result<Figures> {
        // Distinct numbers, never ending in 99 (moto's opted-out numbers).
        let base = 1_000_000 + rand::random::<u32>() % 6_000_000;
        let mut customers: Vec<Customer> = (0..self.params.chats)
            .map(|i| Customer {
                phone: {
                    let n = base + 3 * u32::try_from(i).unwrap_or(u32::MAX / 4);
                    format!("+1555{:07}", if n % 100 == 99 { n + 1 } else { n })
                },
                contact: None,
                contacts: Vec::new(),
                texts: Vec::new(),
                replies: Vec::new(),
                ended: 0,
                stopped: false,
                sms_at_stop: 0,
            })
            .collect();

        // Round 1: every customer's first text starts a chat; agents reply once.
        self.texts(&mut customers, 1).await?;
        self.replies(&mut customers, 1).await?;

        // A relay dies mid-round; agents end some chats while it is down.
        self.kill(0).await?;
        self.replies(&mut customers, 2).await?;
        self.end_chats(&mut customers, 10).await?;
        self.restart(0).await?;

        // DynamoDB throttles while customers text (the ended chats get new ones), and
        // every socket drops.
        self.dynamodb
            .add(Rule::all(Fault::throttled()).for_duration(Duration::from_secs(3)));
        self.drop_sockets().await?;
        self.texts(&mut customers, 2).await?;

        // SNS answers 500 while agents reply, and the other relay dies.
        self.sns.add(
            Rule::on("SNS.Publish", Fault::internal_error()).for_duration(Duration::from_secs(3)),
        );
        self.replies(&mut customers, 3).await?;
        if self.params.kills > 1 {
            self.kill(1).await?;
            self.restart(1).await?;
        }

        // A customer texts STOP mid-chat: nothing may reach it after.
        self.stop_one(&mut customers).await?;

        // A hand-over: SIGTERM, which must exit cleanly, then a new relay.
        self.replies(&mut customers, 4).await?;
        self.handover(0).await?;
        self.texts(&mut customers, 3).await?;

        // More crashes.
        for kill in 2..self.params.kills {
            let which = kill % 2;
            self.replies(&mut customers, 4 + kill).await?;
            self.kill(which).await?;
            self.end_chats(&mut customers, 20).await?;
            self.restart(which).await?;
        }
        self.replies(&mut customers, 99).await?;

        self.settle(&customers).await?;
        self.check(&customers).await
    }

    /// Every (not stopped) customer sends text `round`; a chat that ended gets a new one.
    async fn texts(&mut self, customers: &mut [Customer], round: usize) -> anyhow::Result<()> {
        let mut jobs = Vec::new();
        for customer in customers.iter_mut().filter(|c| !c.stopped) {
            self.next_id += 1;
            let body = format!("text {round} from {} ({})", customer.phone, self.next_id);
            customer.texts.push(body.clone());
            // Every fifth text is delivered twice at once, as SNS may.
            let twice = self.next_id.is_multiple_of(5);
            jobs.push((
                customer.phone.clone(),
                format!("chaos-{}", self.next_id),
                body,
                twice,
            ));
        }
        let handler = Arc::clone(&self.handler);
        let log = self.inbound_log.clone();
        let results: Vec<anyhow::Result<(String, Outcome, usize, bool)>> = stream::iter(jobs)
            .map(|(phone, id, body, twice)| {
                let handler = Arc::clone(&handler);
                let log = log.clone();
                async move {
                    let deliver = || deliver(&handler, &log, &phone, &id, &body);
                    let (outcome, retries) = if twice {
                        let (first, second) = tokio::join!(deliver(), deliver());
                        let (first, second) = (first?, second?);
                        // One of the two did the work; the other found it done (or did
                        // nothing new): the delivered one names the chat.
                        match (&first.0, &second.0) {
                            (Outcome::Delivered { .. }, _) => (first.0, first.1 + second.1),
                            _ => (second.0, first.1 + second.1),
                        }
                    } else {
                        deliver().await?
                    };
                    Ok((phone, outcome, retries, twice))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for result in results {
            let (phone, outcome, retries, twice) = result?;
            self.figures.texts += 1;
            self.figures.retried_invocations += retries;
            self.figures.redelivered += usize::from(twice);
            let customer = customers
                .iter_mut()
                .find(|c| c.phone == phone)
                .context("customer")?;
            match outcome {
                Outcome::Delivered {
                    contact_id,
                    started,
                } => {
                    let contact = contact_id.to_string();
                    if started || customer.contact.as_ref() != Some(&contact) {
                        self.figures.chats_started += 1;
                        customer.contacts.push(contact.clone());
                        customer.contact = Some(contact.clone());
                        self.note_tokens(&phone).await?;
                        self.control.join(&contact, "Agent").await?;
                    }
                }
                Outcome::Duplicate => {}
                other => bail!("text from {phone}: unexpected outcome {other:?}"),
            }
        }
        Ok(())
    }

    /// The agent of every open chat replies once.
    async fn replies(&mut self, customers: &mut [Customer], round: usize) -> anyhow::Result<()> {
        for customer in customers.iter_mut().filter(|c| !c.stopped) {
            let Some(contact) = customer.contact.clone() else {
                continue;
            };
            let body = format!("reply {round} to {}", customer.phone);
            let sent = self.control.say(&contact, &body).await;
            if sent.is_ok() {
                customer.replies.push(body);
                self.figures.replies += 1;
            }
        }
        Ok(())
    }

    /// The agents end one chat in `every`.
    async fn end_chats(&mut self, customers: &mut [Customer], every: usize) -> anyhow::Result<()> {
        for (i, customer) in customers.iter_mut().enumerate() {
            if i % every != 1 || customer.stopped {
                continue;
            }
            if let Some(contact) = customer.contact.take() {
                self.control.end(&contact).await?;
                customer.ended += 1;
                self.figures.ended += 1;
            }
        }
        Ok(())
    }

    async fn stop_one(&mut self, customers: &mut [Customer]) -> anyhow::Result<()> {
        let Some(customer) = customers
            .iter_mut()
            .find(|c| c.contact.is_some() && !c.stopped && c.ended == 0)
        else {
            bail!("no customer with an open chat to text STOP");
        };
        // Its replies so far must have arrived first (else a late one would look sent
        // after the STOP).
        let phone = customer.phone.clone();
        let expected = customer.replies.clone();
        wait_for(&self.moto, &phone, &expected, SETTLE).await?;
        self.next_id += 1;
        let (outcome, _) = deliver(
            &self.handler,
            &self.inbound_log,
            &phone,
            &format!("chaos-{}", self.next_id),
            "STOP",
        )
        .await?;
        ensure!(
            matches!(outcome, Outcome::OptedOut { .. }),
            "STOP: {outcome:?}"
        );
        customer.stopped = true;
        customer.contact = None;
        customer.sms_at_stop = self.moto.sms_to(&phone).await?.len();
        Ok(())
    }

    async fn drop_sockets(&self) -> anyhow::Result<()> {
        self.control.drop_sockets().await.map(|_| ())
    }

    async fn kill(&mut self, which: usize) -> anyhow::Result<()> {
        let relay = &mut self.relays[which];
        relay.child.start_kill().context("SIGKILL")?;
        relay.child.wait().await?;
        self.figures.kills += 1;
        Ok(())
    }

    async fn restart(&mut self, which: usize) -> anyhow::Result<()> {
        self.relays[which] = self.spawn_relay().await?;
        Ok(())
    }

    async fn handover(&mut self, which: usize) -> anyhow::Result<()> {
        let relay = &mut self.relays[which];
        let status = terminate(&mut relay.child).await?;
        ensure!(
            status.success(),
            "a relay stopped with SIGTERM exited {status}"
        );
        self.figures.handovers += 1;
        self.relays[which] = self.spawn_relay().await?;
        Ok(())
    }

    async fn spawn_relay(&self) -> anyhow::Result<Relay> {
        let port = free_port()?;
        let admin = format!("127.0.0.1:{port}");
        // Each relay's log lines (stdout) go to a file of its own, kept for a failed run.
        let log_path = self.logs.join(format!("relay-{port}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(self.params.bin_dir.join("bridge-relay"))
            .envs(self.relay_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("BRIDGE_RELAY_ADMIN_ADDR", &admin)
            .env_remove("AWS_ENDPOINT_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting bridge-relay")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = self.http.get(format!("http://{admin}/readyz")).send().await
                && response.status().is_success()
            {
                break;
            }
            ensure!(Instant::now() < deadline, "a relay was not ready in 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Relay { child, admin })
    }

    /// Waits until every reply and closing text reached its phone.
    async fn settle(&self, customers: &[Customer]) -> anyhow::Result<()> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let outboxes = outboxes(&self.moto).await?;
            let missing: Vec<String> = customers
                .iter()
                .flat_map(|customer| {
                    let mut expected = customer.replies.clone();
                    expected.extend(std::iter::repeat_n(CLOSING.to_owned(), customer.ended));
                    let sms = outboxes.get(&customer.phone).cloned().unwrap_or_default();
                    missing_from(&sms, &expected)
                        .into_iter()
                        .map(|body| format!("{}: {body}", customer.phone))
                        .collect::<Vec<_>>()
                })
                .collect();
            if missing.is_empty() {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "{} SMS never arrived, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // A last moment for any straggler (a duplicate) to show.
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(())
    }

    async fn check(&mut self, customers: &[Customer]) -> anyhow::Result<Figures> {
        let crashes = self.figures.kills + self.figures.handovers;
        let outboxes = outboxes(&self.moto).await?;
        for customer in customers {
            // Every text once in Connect, across the customer's chats.
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for contact in &customer.contacts {
                for text in customer_texts(&self.control, contact).await? {
                    *seen.entry(text).or_default() += 1;
                }
            }
            for text in &customer.texts {
                let count = seen.get(text).copied().unwrap_or(0);
                ensure!(
                    count == 1,
                    "{}: text {text:?} is in Connect {count} times",
                    customer.phone
                );
            }
            // Every reply, and a closing text per ended chat, on the phone.
            let sms = outboxes.get(&customer.phone).cloned().unwrap_or_default();
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for body in &sms {
                *counts.entry(body.as_str()).or_default() += 1;
            }
            let mut duplicates = 0;
            for reply in &customer.replies {
                let count = counts.get(reply.as_str()).copied().unwrap_or(0);
                ensure!(
                    count >= 1,
                    "{}: reply {reply:?} never arrived",
                    customer.phone
                );
                duplicates += count - 1;
            }
            // In order: each reply's first copy after the one before it.
            let first_at: BTreeMap<&str, usize> = sms
                .iter()
                .enumerate()
                .rev()
                .map(|(at, body)| (body.as_str(), at))
                .collect();
            let order: Vec<usize> = customer
                .replies
                .iter()
                .filter_map(|reply| first_at.get(reply.as_str()).copied())
                .collect();
            ensure!(
                order.is_sorted(),
                "{}: replies out of order: {sms:?}",
                customer.phone
            );
            let closings = counts.get(CLOSING).copied().unwrap_or(0);
            ensure!(
                closings >= customer.ended,
                "{}: {closings} closing texts for {} ended chats",
                customer.phone,
                customer.ended
            );
            duplicates += closings - customer.ended;
            ensure!(
                duplicates <= crashes.max(1),
                "{}: {duplicates} duplicates with {crashes} crashes: {sms:?}",
                customer.phone
            );
            self.figures.duplicates += duplicates;
            self.figures.max_duplicates_per_session =
                self.figures.max_duplicates_per_session.max(duplicates);
            if customer.stopped {
                ensure!(
                    sms.len() == customer.sms_at_stop,
                    "{}: SMS after STOP: {:?}",
                    customer.phone,
                    &sms[customer.sms_at_stop..]
                );
            }
        }
        self.figures.faults = self.dynamodb.faulted() + self.sns.faulted();
        // No log may hold a chat's token, nor a customer's number written without its `+`
        // (which masking would not recognise).
        for customer in customers {
            self.note_tokens(&customer.phone).await?;
            self.secrets
                .push(customer.phone.trim_start_matches('+').to_owned());
        }
        Ok(self.figures.clone())
    }

    /// Records the tokens of `phone`'s current chat (read past the fault proxy), which no
    /// log line may hold.
    async fn note_tokens(&mut self, phone: &str) -> anyhow::Result<()> {
        let key = SessionKey::new(PhoneNumber::parse(phone)?, PhoneNumber::parse(SUPPORT)?);
        if let Some(chat) = self
            .sessions
            .get(&key)
            .await?
            .and_then(|session| session.chat)
        {
            self.secrets
                .push(chat.participant_token.expose().to_owned());
            self.secrets.push(chat.connection.token.expose().to_owned());
        }
        Ok(())
    }

    /// Stops every process with SIGTERM; each must exit cleanly.
    async fn stop(&mut self) -> anyhow::Result<()> {
        let mut failures = Vec::new();
        for relay in &mut self.relays {
            match terminate(&mut relay.child).await {
                Ok(status) if status.success() => {}
                Ok(status) => failures.push(format!("relay {} exited {status}", relay.admin)),
                Err(error) => failures.push(format!("relay {}: {error:#}", relay.admin)),
            }
        }
        match terminate(&mut self.sim.child).await {
            Ok(status) if status.success() => {}
            Ok(status) => failures.push(format!("connect-sim exited {status}")),
            Err(error) => failures.push(format!("connect-sim: {error:#}")),
        }
        ensure!(
            failures.is_empty(),
            "unclean exits: {}",
            failures.join("; ")
        );
        Ok(())
    }
}

/// Handles one text like Lambda: a failed invocation is retried (with the same event) until
/// it succeeds. Returns the outcome and how many attempts failed.
async fn deliver(
    handler: &Handler,
    log: &tracing::Dispatch,
    phone: &str,
    id: &str,
    body: &str,
) -> anyhow::Result<(Outcome, usize)> {
    let payload = json!({
        "originationNumber": phone,
        "destinationNumber": SUPPORT,
        "messageKeyword": "KEYWORD_123456789012",
        "messageBody": body,
        "inboundMessageId": id,
        "previousPublishedMessageId": null,
    });
    let event = wrap_in_sns_event(
        &payload.to_string(),
        &format!("sns-{id}"),
        "arn:aws:sns:us-east-1:000000000000:chaos",
        chrono::Utc::now(),
    );
    let deadline = Instant::now() + TEXT_DEADLINE;
    let mut failed = 0;
    loop {
        match handler
            .handle_event(event.clone())
            .with_subscriber(log.clone())
            .await
        {
            Ok(summary) => {
                let outcome = summary
                    .records
                    .into_iter()
                    .next()
                    .map_or(Outcome::Duplicate, |record| record.outcome);
                return Ok((outcome, failed));
            }
            Err(error) => {
                failed += 1;
                ensure!(
                    Instant::now() < deadline,
                    "a text kept failing for {TEXT_DEADLINE:?}: {}",
                    error.chain()
                );
                tokio::time::sleep(Duration::from_millis(200 * failed.min(10) as u64)).await;
            }
        }
    }
}

/// Checks every line of every log in `dir` (the relays' and the handler's): none may carry
/// a full phone number (every E.164-shaped number must be masked) or one of `secrets`
/// (tokens, and the customers' numbers as bare digits).
/// Returns the lines checked.
fn scan_logs(dir: &Path, secrets: &[String]) -> anyhow::Result<usize> {
    let mut lines = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines() {
            lines += 1;
            let masked = bridge_core::report::mask_numbers(line);
            ensure!(
                masked == line,
                "a full phone number in {}: {masked}",
                path.display()
            );
            ensure!(
                !secrets.iter().any(|secret| line.contains(secret.as_str())),
                "a chat's token or a customer's bare number in {}",
                path.display()
            );
        }
    }
    ensure!(lines > 0, "no log lines in {}", dir.display());
    Ok(lines)
}

/// Every SMS moto accepted, by destination number, in order.
async fn outboxes(moto: &Moto) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut sent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for sms in moto.sms().await? {
        sent.entry(sms.phone_number).or_default().push(sms.message);
    }
    Ok(sent)
}

/// The bodies of `expected` (with multiplicity) that `sms` does not hold.
fn missing_from(sms: &[String], expected: &[String]) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for body in sms {
        *counts.entry(body.as_str()).or_default() += 1;
    }
    expected
        .iter()
        .filter(|body| {
            let count = counts.entry(body.as_str()).or_default();
            if *count == 0 {
                true
            } else {
                *count -= 1;
                false
            }
        })
        .cloned()
        .collect()
}

/// Waits until every body of `expected` (with multiplicity) is in `phone`'s outbox.
async fn wait_for(
    moto: &Moto,
    phone: &str,
    expected: &[String],
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let missing = missing_from(&moto.sms_to(phone).await?, expected);
        if missing.is_empty() {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{phone}: {} SMS never arrived: {missing:?}",
            missing.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The customer's messages in a chat, from connect-sim's control API, but for the notice
/// the bridge writes there when the customer opts out.
async fn customer_texts(sim: &SimControl, contact: &str) -> anyhow::Result<Vec<String>> {
    let mut texts = sim.customer_texts(contact).await?;
    texts.retain(|text| !text.starts_with("Customer opted out"));
    Ok(texts)
}

/// SIGTERM, then the exit status (SIGKILL after 20 s).
async fn terminate(child: &mut Child) -> anyhow::Result<std::process::ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    let pid = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .and_then(rustix::process::Pid::from_raw)
        .context("no pid")?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
    match tokio::time::timeout(Duration::from_secs(20), child.wait()).await {
        Ok(status) => Ok(status?),
        Err(_) => {
            child.start_kill()?;
            bail!("did not exit within 20 s of SIGTERM");
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
