//! What the relay's integration tests share: the local stack (moto for DynamoDB and SNS,
//! an in-process connect-sim for Connect), sessions seeded as the inbound Lambda would seed
//! them, and the relay itself, in-process or as the real binary. The agent's side is the
//! sim's control API and SMS are read back from moto, both through `bridge-testkit`
//! ([`Stack::control`], [`Stack::sms_to`]).
//!
//! Tests share one moto server, so every test uses its own table and its own phone numbers;
//! each test has its own connect-sim.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use bridge_aws::{ClientSettings, ConnectChat, DynamoSettings, DynamoStore, SmsType, SnsSender};
use bridge_core::PhoneNumber;
use bridge_core::ids::{ContactFlowId, ContactId, InstanceId};
use bridge_core::ports::{
    ChatReader, ChatStarter, ChatWriter, ConnectParticipant, ConnectionKind, SessionStore,
    StartChat, SystemClock,
};
use bridge_core::session::{Chat, Session, SessionKey};
use bridge_relay::leases::listed_leases;
use bridge_relay::{Config, Ports};
use bridge_testkit::emulators::{self, Endpoints};
use bridge_testkit::fresh;
use bridge_testkit::wait::{eventually, poll_every};
use bridge_testkit::{Moto, SimControl};
use chrono::Utc;
use connect_sim::{RunningSim, SimConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Longest a test waits for any one thing.
pub const WAIT: Duration = Duration::from_secs(30);
pub const SUPPORT: &str = "+18005550100";
pub const INSTANCE: &str = "11111111-2222-3333-4444-555555555555";
pub const FLOW: &str = "flow-1";
pub const SHARDS: u16 = 64;

pub fn support() -> PhoneNumber {
    PhoneNumber::parse(SUPPORT).unwrap()
}

/// Static test credentials, us-east-1, `endpoint` for every service, and the bridge's own
/// timeouts, as the deployed relay has them (the in-process relay runs on these clients),
/// not the testkit's roomier `client_settings()`.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    ClientSettings::default().apply(&bridge_testkit::emulator_config(endpoint))
}

/// moto serialises requests and `/moto-api/data.json` returns everything it holds, so SMS
/// are polled gently.
pub const SMS_POLL: Duration = Duration::from_millis(250);

/// Records the body of every request a client sends (SNS Publish is form-encoded).
#[derive(Debug, Default, Clone)]
pub struct CapturedRequests(Arc<Mutex<Vec<String>>>);

impl CapturedRequests {
    /// Every captured request body, decoded into its form fields.
    pub fn forms(&self) -> Vec<HashMap<String, String>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|body| decode_form(body))
            .collect()
    }
}

impl Intercept for CapturedRequests {
    fn name(&self) -> &'static str {
        "CapturedRequests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.request().body().bytes() {
            self.0
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(bytes).into_owned());
        }
        Ok(())
    }
}

fn decode_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (percent_decode(name), percent_decode(value)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The local stack of one test.
pub struct Stack {
    pub shards: u16,
    /// moto's outbox (every SMS the relay published).
    pub moto: Moto,
    pub sim: RunningSim,
    /// The sim's control API: the agent's side of each chat, its counters and switches.
    pub control: SimControl,
    /// Where the relay process finds each service.
    pub endpoints: Endpoints,
    pub table: String,
    pub store: Arc<DynamoStore>,
    pub chat: Arc<ConnectChat>,
    pub sns: aws_sdk_sns::Client,
    pub captured: CapturedRequests,
    pub http: reqwest::Client,
    /// The CA connect-sim serves TLS with, written for the relay process
    /// (`BRIDGE_RELAY_EXTRA_CA_FILE`); `None` when it serves plain HTTP.
    pub ca_file: Option<tempfile::NamedTempFile>,
}

impl Stack {
    /// moto (shared) + a fresh table + a fresh in-process connect-sim.
    pub async fn start() -> Self {
        Self::with_sim(SimConfig {
            concurrent_chat_limit: None,
            ..SimConfig::default()
        })
        .await
    }

    pub async fn with_sim(sim_config: SimConfig) -> Self {
        Self::build(sim_config, SHARDS).await
    }

    /// The same with `shards` shards: fewer shards mean fewer index queries per second,
    /// which matters when several relays share one (serialised) moto.
    pub async fn with_shards(shards: u16) -> Self {
        Self::build(
            SimConfig {
                concurrent_chat_limit: None,
                ..SimConfig::default()
            },
            shards,
        )
        .await
    }

    async fn build(sim_config: SimConfig, shards: u16) -> Self {
        let moto = emulators::moto();
        let ca_pem = sim_config.tls.as_ref().map(|tls| tls.ca_pem().to_owned());
        let sim = connect_sim::spawn(sim_config)
            .await
            .expect("connect-sim starts");
        let aws = sdk_config(&moto);
        let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
        let table = fresh::name("relay");
        bridge_aws::dynamo::create_table(&dynamodb, &table)
            .await
            .expect("table created");
        let store = Arc::new(DynamoStore::new(
            dynamodb,
            table.clone(),
            DynamoSettings {
                lease_slots: NonZeroU16::new(listed_leases(shards)).unwrap(),
                ..DynamoSettings::default()
            },
        ));
        let captured = CapturedRequests::default();
        let sns = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&aws)
                .interceptor(captured.clone())
                .build(),
        );
        let mut connect_config = sdk_config(&sim.base_url());
        let mut http = reqwest::Client::builder();
        let mut ca_file = None;
        if let Some(pem) = &ca_pem {
            let ca = bridge_aws::ExtraCa::from_pem(pem.as_bytes()).expect("the sim's CA");
            connect_config = bridge_aws::trusting_extra_ca(&connect_config, &ca);
            http = bridge_testkit::tls::trusting(pem).expect("the sim's CA");
            let file = tempfile::NamedTempFile::new().expect("a temporary file");
            std::fs::write(file.path(), pem).expect("CA written");
            ca_file = Some(file);
        }
        let chat = Arc::new(ConnectChat::new(
            aws_sdk_connect::Client::new(&connect_config),
            aws_sdk_connectparticipant::Client::new(&connect_config),
        ));
        let http = http.timeout(WAIT).build().unwrap();
        // Over the client that trusts the sim's CA when it serves TLS.
        let control = SimControl::with_client(http.clone(), &sim.base_url());
        let endpoints = Endpoints {
            sms_voice: None,
            s3: None,
            ..Endpoints::local(&moto, &moto, &sim.base_url())
        };
        Self {
            shards,
            moto: Moto::new(&moto).unwrap(),
            sim,
            control,
            endpoints,
            table,
            store,
            chat,
            sns,
            captured,
            http,
            ca_file,
        }
    }

    /// The environment the relay runs with: core and relay variables, and the standard
    /// AWS variables pointing at the emulators ([`Self::endpoints`]). `extra` overrides.
    pub fn relay_env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("BRIDGE_CONNECT_INSTANCE_ID", INSTANCE.to_owned()),
            ("BRIDGE_SUPPORT_LINES", format!("{SUPPORT}={FLOW}")),
            ("BRIDGE_TABLE_NAME", self.table.clone()),
            ("BRIDGE_SHARD_COUNT", self.shards.to_string()),
            ("BRIDGE_RELAY_ADMIN_ADDR", "127.0.0.1:0".to_owned()),
            ("BRIDGE_RELAY_CALL_TIMEOUT_MS", "5000".to_owned()),
            ("BRIDGE_RELAY_DRAIN_MS", "5000".to_owned()),
        ]
        .into_iter()
        .chain(self.endpoints.env())
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        if let Some(file) = &self.ca_file {
            env.push((
                "BRIDGE_RELAY_EXTRA_CA_FILE".to_owned(),
                file.path().display().to_string(),
            ));
        }
        for (name, value) in extra {
            env.retain(|(existing, _)| existing != name);
            env.push(((*name).to_owned(), (*value).to_owned()));
        }
        env
    }

    /// The relay configuration from [`Self::relay_env`].
    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        let env: HashMap<String, String> = self.relay_env(extra).into_iter().collect();
        Config::from_lookup(|name| env.get(name).cloned()).expect("valid relay config")
    }

    /// The relay's ports over this stack (SNS through the capturing client).
    pub fn ports(&self) -> Ports {
        Ports {
            sessions: self.store.clone(),
            leases: self.store.clone(),
            chat: self.chat.clone(),
            timers: self.chat.clone(),
            sms: Arc::new(SnsSender::new(self.sns.clone(), SmsType::Transactional)),
            clock: Arc::new(SystemClock),
            archive: None,
        }
    }

    /// Starts a chat for `customer` and stores the active session, as the inbound Lambda
    /// does for a first text, or for a text after the last chat ended (the next
    /// generation, `Session::next_generation`, as the Lambda's decision makes it).
    pub async fn start_session(&self, customer: &PhoneNumber, first_text: &str) -> Session {
        self.start_session_from(customer, first_text, false).await
    }

    /// [`Self::start_session`]; with `persistent`, the new chat continues from the
    /// session's last chat (persistent chat, `BRIDGE_PERSISTENT_CHAT=true`), so its
    /// transcript carries that chat's items, and those before it, with RelatedContactId.
    pub async fn start_session_from(
        &self,
        customer: &PhoneNumber,
        first_text: &str,
        persistent: bool,
    ) -> Session {
        let key = SessionKey::new(customer.clone(), support());
        let shard = key.shard(NonZeroU16::new(self.shards).unwrap());
        let now = Utc::now();
        let existing = self.store.get(&key).await.expect("session read");
        let (starting, expected) = match &existing {
            Some(current) => (current.next_generation(now), Some(current.version)),
            None => (Session::first(key.clone(), shard, now), None),
        };
        let row = self
            .store
            .put(&starting, expected)
            .await
            .expect("starting row");
        let started = self
            .chat
            .start_chat(&StartChat {
                instance_id: InstanceId::new(INSTANCE).unwrap(),
                contact_flow_id: ContactFlowId::new(FLOW).unwrap(),
                client_token: key.start_token(row.generation),
                display_name: "SMS customer".to_owned(),
                attributes: Default::default(),
                initial_message: Some(first_text.to_owned()),
                continue_from: row.previous_contact_id.clone().filter(|_| persistent),
                duration_minutes: None,
                connection: None,
            })
            .await
            .expect("StartChatContact");
        let connected = self
            .chat
            .create_connection(
                &started.participant_token,
                ConnectionKind::Credentials,
                ConnectParticipant::Join,
            )
            .await
            .expect("CreateParticipantConnection");
        let chat = Chat {
            contact_id: started.contact_id,
            participant_id: started.participant_id,
            participant_token: started.participant_token,
            connection: connected.connection.expect("connection token"),
        };
        self.store
            .put(&row.activated(chat, now), Some(row.version))
            .await
            .expect("active row")
    }

    /// The session as stored now.
    pub async fn session(&self, customer: &PhoneNumber) -> Session {
        self.store
            .get(&SessionKey::new(customer.clone(), support()))
            .await
            .unwrap()
            .expect("session exists")
    }

    /// The customer texts into the chat (what the inbound Lambda sends).
    pub async fn customer_says(&self, session: &Session, text: &str) {
        let chat = session.chat.as_ref().unwrap();
        self.chat
            .send_message(&chat.connection.token, text, &fresh::name("client"))
            .await
            .expect("SendMessage");
    }

    /// The agent joins the chat as `name` ([`Self::control`]).
    pub async fn agent_joins(&self, contact: &ContactId, name: &str) {
        self.control.join(contact.as_str(), name).await.unwrap();
    }

    /// The agent writes `text` in the chat ([`Self::control`]).
    pub async fn agent_says(&self, contact: &ContactId, text: &str) {
        self.control.say(contact.as_str(), text).await.unwrap();
    }

    /// The agent ends the chat ([`Self::control`]).
    pub async fn agent_ends(&self, contact: &ContactId) {
        self.control.end(contact.as_str()).await.unwrap();
    }

    /// Every SMS moto accepted for `to`, in publish order.
    pub async fn sms_to(&self, to: &PhoneNumber) -> Vec<String> {
        self.moto.sms_to(to.as_e164()).await.unwrap()
    }

    /// Waits until at least `count` SMS reached `to`, and returns them all.
    pub async fn wait_sms(&self, to: &PhoneNumber, count: usize) -> Vec<String> {
        poll_every(SMS_POLL, &format!("{count} SMS to {to}"), WAIT, || async {
            let sent = self.sms_to(to).await;
            (sent.len() >= count).then_some(sent)
        })
        .await
    }
}

/// One value from a Prometheus text exposition (`name` may include labels).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}

/// GETs `path` on an admin listener.
pub async fn admin_get(http: &reqwest::Client, admin: SocketAddr, path: &str) -> (u16, String) {
    match http.get(format!("http://{admin}{path}")).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(_) => (0, String::new()),
    }
}

/// The relay in this process.
pub struct InProcessRelay {
    pub admin: SocketAddr,
    root: CancellationToken,
    task: JoinHandle<Result<(), bridge_relay::error::RelayError>>,
}

impl InProcessRelay {
    pub async fn start(stack: &Stack, extra: &[(&str, &str)]) -> Self {
        let config = stack.config(extra);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = listener.local_addr().unwrap();
        let root = CancellationToken::new();
        let task = tokio::spawn(bridge_relay::run(
            config,
            stack.ports(),
            listener,
            root.clone(),
        ));
        Self { admin, root, task }
    }

    pub async fn metrics(&self, http: &reqwest::Client) -> String {
        admin_get(http, self.admin, "/metrics").await.1
    }

    /// Waits until metric `name` reaches exactly `value`.
    pub async fn wait_metric(&self, http: &reqwest::Client, name: &str, value: f64) {
        let admin = self.admin;
        eventually(&format!("{name} == {value}"), WAIT, || async move {
            let text = admin_get(http, admin, "/metrics").await.1;
            (metric(&text, name) == Some(value)).then_some(())
        })
        .await;
    }

    pub async fn stop(self) {
        self.root.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// The real `bridge-relay` binary.
pub struct RelayProcess {
    pub admin: SocketAddr,
    child: Child,
    pub lines: Arc<Mutex<VecDeque<String>>>,
    reader: JoinHandle<()>,
}

impl RelayProcess {
    pub async fn spawn(stack: &Stack, extra: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bridge-relay"));
        command
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            .env(
                "RUST_LOG",
                std::env::var("RELAY_TEST_LOG").unwrap_or_else(|_| "info".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (name, value) in stack.relay_env(extra) {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("bridge-relay starts");
        let stdout = child.stdout.take().unwrap();
        let lines: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let pid = child.id().unwrap_or_default();
        let reader = tokio::spawn({
            let lines = Arc::clone(&lines);
            async move {
                let mut addr_tx = Some(addr_tx);
                let mut reader = BufReader::new(stdout).lines();
                let echo = std::env::var_os("RELAY_TEST_ECHO_LOGS").is_some();
                while let Ok(Some(line)) = reader.next_line().await {
                    if echo {
                        eprintln!("relay {pid}: {line}");
                    }
                    if let Some(addr) = serde_json::from_str::<Value>(&line)
                        .ok()
                        .and_then(|log| log["fields"]["admin_addr"].as_str().map(str::to_owned))
                        && let Some(tx) = addr_tx.take()
                    {
                        let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                    }
                    let mut lines = lines.lock().unwrap();
                    if lines.len() >= 2_000 {
                        lines.pop_front();
                    }
                    lines.push_back(line);
                }
            }
        });
        let admin = tokio::time::timeout(WAIT, addr_rx)
            .await
            .expect("relay printed its admin address in time")
            .expect("relay printed its admin address");
        Self {
            admin,
            child,
            lines,
            reader,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, http: &reqwest::Client) {
        let admin = self.admin;
        eventually("relay ready", WAIT, || async move {
            (admin_get(http, admin, "/readyz").await.0 == 200).then_some(())
        })
        .await;
    }

    pub async fn metrics(&self, http: &reqwest::Client) -> String {
        admin_get(http, self.admin, "/metrics").await.1
    }

    pub async fn metric(&self, http: &reqwest::Client, name: &str) -> Option<f64> {
        metric(&self.metrics(http).await, name)
    }

    /// SIGKILL: no chance to release leases or write cursors.
    pub async fn kill9(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        self.reader.abort();
    }

    /// SIGTERM, then waits for a clean exit; returns the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("relay exits after SIGTERM")
            .unwrap();
        let _ = self.reader.await;
        exit
    }

    /// Log lines printed so far (JSON).
    pub fn logs(&self) -> Vec<String> {
        self.lines.lock().unwrap().iter().cloned().collect()
    }

    /// Fails if any log line carries a full phone number, or a participant or connection
    /// token of `sessions` (ERROR paths included: an SDK's error text can quote a request).
    pub fn assert_logs_leak_nothing(&self, sessions: &[bridge_core::session::Session]) {
        let secrets: Vec<String> = sessions
            .iter()
            .filter_map(|session| session.chat.as_ref())
            .flat_map(|chat| {
                [
                    chat.participant_token.expose().to_owned(),
                    chat.connection.token.expose().to_owned(),
                ]
            })
            .collect();
        for line in self.logs() {
            assert_eq!(
                bridge_core::report::mask_numbers(&line),
                line,
                "a full phone number in a relay log line"
            );
            for secret in &secrets {
                assert!(
                    !line.contains(secret.as_str()),
                    "a token in a relay log line: {line}"
                );
            }
        }
    }
}

/// Removes consecutive repeats (the at-most-one duplicate a crash may cause) and reports
/// how many were removed.
pub fn collapse_repeats(sent: &[String]) -> (Vec<String>, usize) {
    let mut out: Vec<String> = Vec::new();
    let mut repeats = 0;
    for sms in sent {
        if out.last() == Some(sms) {
            repeats += 1;
        } else {
            out.push(sms.clone());
        }
    }
    (out, repeats)
}
