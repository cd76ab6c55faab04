//! A local stand-in for the [Lambda Runtime API], so a Lambda binary runs here as it does in
//! Lambda: it starts, initialises, polls for an event, answers, polls again.
//!
//! It owns one execution environment's side of the protocol and nothing else: an event is
//! handed to the next `GET /invocation/next` poll with the headers `lambda_runtime` needs
//! (request id, deadline, function ARN, X-Ray trace id), and what the runtime posts back,
//! a response, an invocation error or an init error, goes to whoever is waiting for it.
//! Invocations are one at a time, as in one execution environment. It does not start or
//! watch the process (the caller does, with [`RuntimeApi::lambda_env`]), and it does not
//! implement SnapStart's `/restore/*` or response streaming.
//!
//! [Lambda Runtime API]: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

/// The function name the stand-in reports (`AWS_LAMBDA_FUNCTION_NAME`, the ARN).
pub const FUNCTION_NAME: &str = "bench-function";
/// The memory size it reports, in MB (Lambda's smallest).
pub const MEMORY_SIZE_MB: u32 = 128;

/// Every path of the API starts with this version prefix.
const PREFIX: &str = "/2018-06-01/runtime";
/// Lambda's invocation payload limit (synchronous), for events and responses alike.
const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

// Response headers of `GET /invocation/next` (lambda_runtime's `constants.rs`).
const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
const INVOKED_FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
const TRACE_ID: &str = "lambda-runtime-trace-id";
/// Request header of the error posts (`unhandled`, `Runtime.InitError`).
const FUNCTION_ERROR_TYPE: &str = "lambda-runtime-function-error-type";

/// What the runtime posted back for one invocation.
#[derive(Clone, Debug, PartialEq)]
pub enum Invocation {
    /// `POST /invocation/{id}/response`: the handler's result (a JSON string if the body
    /// was not JSON, `null` if it was empty).
    Response(Value),
    /// `POST /invocation/{id}/error`.
    Error {
        /// The body's `errorType` (the `Diagnostic`'s, what Lambda reports), else the
        /// `lambda-runtime-function-error-type` header.
        error_type: String,
        /// The whole body, normally `{"errorType", "errorMessage"}`.
        body: Value,
    },
}

impl Invocation {
    /// The response of a successful invocation.
    ///
    /// # Errors
    /// When the invocation failed; the message carries its error type and body.
    pub fn into_response(self) -> anyhow::Result<Value> {
        match self {
            Self::Response(response) => Ok(response),
            Self::Error { error_type, body } => {
                Err(anyhow!("the invocation failed with {error_type}: {body}"))
            }
        }
    }
}

/// A running Runtime API on `127.0.0.1:PORT`; the server stops when this is dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    // Dropped after `Drop::drop` has cancelled `shared.stopped`, so pending polls end and
    // open connections close gracefully while the accept loop is aborted.
    _server: AbortOnDropHandle<std::io::Result<()>>,
}

impl RuntimeApi {
    /// Binds `127.0.0.1:0` and serves the API in a background task.
    ///
    /// # Errors
    /// When the listener cannot be bound.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the runtime api listener")?;
        let addr = listener
            .local_addr()
            .context("reading the runtime api address")?;
        let shared = Arc::new(Shared::new());
        let stopped = shared.stopped.clone();
        let server = tokio::spawn(
            axum::serve(listener, router(Arc::clone(&shared)))
                .with_graceful_shutdown(stopped.cancelled_owned())
                .into_future(),
        );
        Ok(Self {
            addr,
            shared,
            _server: AbortOnDropHandle::new(server),
        })
    }

    /// `127.0.0.1:PORT`: the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The variables the Lambda service sets for a function's process, pointing at this
    /// API (`lambda_runtime`'s `Config::from_env` requires the name, memory and version).
    pub fn lambda_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME.to_owned()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                MEMORY_SIZE_MB.to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{FUNCTION_NAME}"),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2025/01/01/[$LATEST]00000000000000000000000000000000".to_owned(),
            ),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ]
    }

    /// A command that starts `binary` as the Lambda service starts a function's process
    /// under this API: an empty environment but for `PATH`, a `HOME` that does not exist
    /// (so the AWS SDK reads no `~/.aws` profile; Lambda has none), [`Self::lambda_env`]
    /// and the function's own `env`; stdin closed, stdout and stderr piped, killed when
    /// dropped.
    pub fn command(
        &self,
        binary: &std::path::Path,
        env: &[(String, String)],
    ) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(binary);
        command.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command
            .env("HOME", "/nonexistent")
            .envs(self.lambda_env())
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Waits until the runtime has finished initialising: the instant its first
    /// `GET /invocation/next` arrived.
    ///
    /// # Errors
    /// When no poll arrives within `timeout`, or the runtime posted `/init/error` (its
    /// error type and message are in the error).
    pub async fn ready(&self, timeout: Duration) -> anyhow::Result<Instant> {
        let mut readiness = self.shared.readiness.subscribe();
        let settled = tokio::time::timeout(
            timeout,
            readiness.wait_for(|state| !matches!(state, Readiness::Initialising)),
        )
        .await
        .map_err(|_| anyhow!("the runtime did not poll for an event within {timeout:?}"))?
        .context("the runtime api stopped")?;
        match Readiness::clone(&settled) {
            Readiness::Ready(at) => Ok(at),
            Readiness::Failed(error) => bail!("the runtime reported an init error: {error}"),
            Readiness::Initialising => bail!("the runtime api is still initialising"),
        }
    }

    /// The instant of the first `GET /invocation/next`, if one arrived.
    pub fn first_poll(&self) -> Option<Instant> {
        match *self.shared.readiness.borrow() {
            Readiness::Ready(at) => Some(at),
            Readiness::Initialising | Readiness::Failed(_) => None,
        }
    }

    /// Hands `event` to the pending or next `GET /invocation/next` and waits for the
    /// runtime's response or error post. The runtime is told its deadline is `timeout`
    /// from now.
    ///
    /// Cancel-safe: dropping the future withdraws the invocation, and a late answer to it
    /// is refused as an unknown request id.
    ///
    /// # Errors
    /// When another invocation is in progress, the runtime reported an init error, or
    /// nothing came back within `timeout`.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> anyhow::Result<Invocation> {
        if let Readiness::Failed(error) = Readiness::clone(&self.shared.readiness.borrow()) {
            bail!("the runtime reported an init error: {error}");
        }
        let body = serde_json::to_vec(&event).context("serialising the event")?;
        let sequence = self.shared.next_sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let id = request_id(sequence);
        let (reply, answer) = oneshot::channel();
        {
            let mut slot = self.shared.slot();
            if !matches!(*slot, Slot::Idle) {
                bail!("an invocation is already in progress (invocations are one at a time)");
            }
            *slot = Slot::Queued(Pending {
                id: id.clone(),
                sequence,
                body: Bytes::from(body),
                deadline_ms: epoch_ms(SystemTime::now() + timeout),
                reply,
            });
        }
        let _withdraw = Withdraw {
            shared: &self.shared,
            id: &id,
        };
        self.shared.queued.notify_waiters();
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(invocation)) => Ok(invocation),
            Ok(Err(_)) => bail!("invocation {id} was dropped before it was answered"),
            Err(_) => {
                let stage = match *self.shared.slot() {
                    Slot::Queued(_) => "the runtime never polled for it",
                    Slot::Running { .. } | Slot::Idle => "the runtime took it but never answered",
                };
                bail!("invocation {id} timed out after {timeout:?}: {stage}")
            }
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.stopped.cancel();
    }
}

/// Where the runtime is in its start-up.
#[derive(Clone, Debug)]
enum Readiness {
    /// No poll and no init error yet.
    Initialising,
    /// The first `GET /invocation/next` arrived at this instant.
    Ready(Instant),
    /// `/init/error` was posted: `"<errorType>: <errorMessage>"`.
    Failed(String),
}

/// The one invocation of the execution environment.
#[derive(Default)]
enum Slot {
    #[default]
    Idle,
    /// Waiting for a poll.
    Queued(Pending),
    /// Handed to the runtime, waiting for its answer.
    Running {
        id: String,
        reply: oneshot::Sender<Invocation>,
    },
}

struct Pending {
    id: String,
    sequence: u64,
    body: Bytes,
    deadline_ms: u64,
    reply: oneshot::Sender<Invocation>,
}

/// State shared by the handle and the HTTP handlers.
struct Shared {
    readiness: watch::Sender<Readiness>,
    slot: Mutex<Slot>,
    /// Woken when an invocation is queued.
    queued: Notify,
    next_sequence: AtomicU64,
    /// Cancelled when the [`RuntimeApi`] is dropped.
    stopped: CancellationToken,
}

impl Shared {
    fn new() -> Self {
        Self {
            readiness: watch::Sender::new(Readiness::Initialising),
            slot: Mutex::new(Slot::Idle),
            queued: Notify::new(),
            next_sequence: AtomicU64::new(0),
            stopped: CancellationToken::new(),
        }
    }

    /// The slot, locked briefly (never across an `.await`). A panic while it was held
    /// cannot leave it half-written (every write is one assignment), so poison is ignored.
    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves a queued invocation to running, returning what `/next` must send.
    fn take_queued(&self) -> Option<Next> {
        let mut slot = self.slot();
        match std::mem::take(&mut *slot) {
            Slot::Queued(pending) => {
                *slot = Slot::Running {
                    id: pending.id.clone(),
                    reply: pending.reply,
                };
                Some(Next {
                    id: pending.id,
                    sequence: pending.sequence,
                    body: pending.body,
                    deadline_ms: pending.deadline_ms,
                })
            }
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Routes the runtime's answer to the running invocation `id`; false if there is none.
    fn complete(&self, id: &str, invocation: Invocation) -> bool {
        let mut slot = self.slot();
        match std::mem::take(&mut *slot) {
            Slot::Running { id: running, reply } if running == id => {
                // A closed receiver means `invoke` is returning on its timeout right now;
                // its error says so, so there is nothing to add here.
                let _ = reply.send(invocation);
                true
            }
            other => {
                *slot = other;
                false
            }
        }
    }
}

/// Clears the slot if it still holds invocation `id` (a timed-out or dropped `invoke`).
struct Withdraw<'a> {
    shared: &'a Shared,
    id: &'a str,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        let mut slot = self.shared.slot();
        let ours = match &*slot {
            Slot::Queued(pending) => pending.id == self.id,
            Slot::Running { id, .. } => id == self.id,
            Slot::Idle => false,
        };
        if ours {
            *slot = Slot::Idle;
        }
    }
}

/// An event on its way out of `GET /invocation/next`.
struct Next {
    id: String,
    sequence: u64,
    body: Bytes,
    deadline_ms: u64,
}

impl IntoResponse for Next {
    fn into_response(self) -> Response {
        let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}");
        let trace = format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
            self.deadline_ms / 1000,
            self.sequence,
            self.sequence
        );
        let headers = [
            ("content-type", "application/json".to_owned()),
            (REQUEST_ID, self.id),
            (DEADLINE_MS, self.deadline_ms.to_string()),
            (INVOKED_FUNCTION_ARN, arn),
            (TRACE_ID, trace),
        ];
        (headers, self.body).into_response()
    }
}

fn router(shared: Arc<Shared>) -> Router {
    // No TimeoutLayer: `/invocation/next` is a long poll that waits as long as it must.
    Router::new()
        .route(&format!("{PREFIX}/invocation/next"), get(next))
        .route(
            &format!("{PREFIX}/invocation/{{id}}/response"),
            post(respond),
        )
        .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(fail))
        .route(&format!("{PREFIX}/init/error"), post(init_error))
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES))
        .with_state(shared)
}

/// `GET /invocation/next`: marks the runtime ready, then waits for an invocation.
async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let polled = Instant::now();
    shared.readiness.send_if_modified(|state| {
        let first = matches!(state, Readiness::Initialising);
        if first {
            *state = Readiness::Ready(polled);
        }
        first
    });
    loop {
        // Registered before the slot is checked, so a queueing in between still wakes us.
        let queued = shared.queued.notified();
        tokio::pin!(queued);
        queued.as_mut().enable();
        if let Some(next) = shared.take_queued() {
            return next.into_response();
        }
        tokio::select! {
            () = queued => {}
            () = shared.stopped.cancelled() => {
                return api_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceStopped", "the runtime api is stopping");
            }
        }
    }
}

/// `POST /invocation/{id}/response`.
async fn respond(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    answer(&shared, &id, Invocation::Response(json_or_text(&body)))
}

/// `POST /invocation/{id}/error`.
async fn fail(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = json_or_text(&body);
    let error_type = error_type(&body, &headers);
    answer(&shared, &id, Invocation::Error { error_type, body })
}

/// The error type a runtime reported: the body's `errorType` (`lambda_runtime` always
/// sends `unhandled` in the header), else the header.
fn error_type(body: &Value, headers: &HeaderMap) -> String {
    body["errorType"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| header(headers, FUNCTION_ERROR_TYPE))
        .unwrap_or_else(|| "Unknown".to_owned())
}

fn answer(shared: &Shared, id: &str, invocation: Invocation) -> Response {
    if shared.complete(id, invocation) {
        (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
    } else {
        api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "no invocation is waiting for this request id",
        )
    }
}

/// `POST /init/error`: the runtime could not initialise (it exits next).
async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = json_or_text(&body);
    let error_type = error_type(&body, &headers);
    let message = body["errorMessage"]
        .as_str()
        .map_or_else(|| body.to_string(), str::to_owned);
    let recorded = shared.readiness.send_if_modified(|state| {
        let initialising = matches!(state, Readiness::Initialising);
        if initialising {
            *state = Readiness::Failed(format!("{error_type}: {message}"));
        }
        initialising
    });
    if recorded {
        (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
    } else {
        api_error(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "init error after initialisation ended",
        )
    }
}

/// An error in the API's own shape.
fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = json!({"errorType": error_type, "errorMessage": message});
    (status, axum::Json(body)).into_response()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The body as JSON; a non-JSON body as a JSON string, an empty one as `null`.
fn json_or_text(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// A UUID-shaped request id, unique within one [`RuntimeApi`] (which is all a runtime needs).
fn request_id(sequence: u64) -> String {
    format!("00000000-0000-4000-8000-{sequence:012x}")
}

fn epoch_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    fn url(api: &RuntimeApi, path: &str) -> String {
        format!("http://{}{PREFIX}{path}", api.address())
    }

    /// Polls `/invocation/next` as a runtime would: (request id, headers, event).
    async fn poll(http: &reqwest::Client, api: &RuntimeApi) -> (String, HeaderMap, Value) {
        let response = http.get(url(api, "/invocation/next")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        let id = headers[REQUEST_ID].to_str().unwrap().to_owned();
        (id, headers, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn ready_is_the_instant_of_the_first_poll() {
        // GIVEN a runtime api nobody has polled
        let api = RuntimeApi::start().await.unwrap();
        assert!(api.first_poll().is_none());
        let before = Instant::now();

        // WHEN the runtime polls for its first event
        let http = reqwest::Client::new();
        let poller = tokio::spawn({
            let next = url(&api, "/invocation/next");
            async move { http.get(next).send().await.map(|r| r.status()) }
        });
        let ready = api.ready(WAIT).await.unwrap();

        // THEN ready is the poll's arrival, and stopping the api ends the pending poll
        assert!(ready >= before && ready <= Instant::now());
        assert_eq!(api.first_poll(), Some(ready));
        drop(api);
        assert_eq!(
            poller.await.unwrap().unwrap(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn a_response_is_routed_back_to_its_invocation() {
        // GIVEN a runtime that answers one event with the event's id
        let api = Arc::new(RuntimeApi::start().await.unwrap());
        let runtime = tokio::spawn({
            let api = Arc::clone(&api);
            async move {
                let http = reqwest::Client::new();
                let (id, headers, event) = poll(&http, &api).await;
                let response = http
                    .post(url(&api, &format!("/invocation/{id}/response")))
                    .json(&json!({"echo": event["id"]}))
                    .send()
                    .await
                    .unwrap();
                (id, headers, response.status())
            }
        });

        // WHEN an event is invoked
        let invocation = api.invoke(json!({"id": 7}), WAIT).await.unwrap();

        // THEN the runtime got it with Lambda's headers, and its response came back
        assert_eq!(invocation, Invocation::Response(json!({"echo": 7})));
        let (id, headers, status) = runtime.await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(id, request_id(1));
        let deadline: u64 = headers[DEADLINE_MS].to_str().unwrap().parse().unwrap();
        assert!(deadline > epoch_ms(SystemTime::now()));
        assert!(
            headers[INVOKED_FUNCTION_ARN]
                .to_str()
                .unwrap()
                .ends_with(&format!(":function:{FUNCTION_NAME}"))
        );
        assert!(headers[TRACE_ID].to_str().unwrap().starts_with("Root=1-"));
    }

    #[tokio::test]
    async fn an_error_is_routed_back_with_the_diagnostic_error_type() {
        // GIVEN a runtime whose handler fails, as lambda_runtime reports it
        let api = Arc::new(RuntimeApi::start().await.unwrap());
        let runtime = tokio::spawn({
            let api = Arc::clone(&api);
            async move {
                let http = reqwest::Client::new();
                let (id, _, _) = poll(&http, &api).await;
                http.post(url(&api, &format!("/invocation/{id}/error")))
                    .header(FUNCTION_ERROR_TYPE, "unhandled")
                    .json(&json!({"errorType": "Retriable.Thing", "errorMessage": "boom"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        });

        // WHEN an event is invoked
        let invocation = api.invoke(json!({}), WAIT).await.unwrap();

        // THEN the error comes back typed by its body, not by the generic header
        assert_eq!(
            invocation,
            Invocation::Error {
                error_type: "Retriable.Thing".to_owned(),
                body: json!({"errorType": "Retriable.Thing", "errorMessage": "boom"}),
            }
        );
        assert_eq!(runtime.await.unwrap(), StatusCode::ACCEPTED);
        assert!(invocation_error_text(invocation).contains("Retriable.Thing"));
    }

    fn invocation_error_text(invocation: Invocation) -> String {
        invocation.into_response().unwrap_err().to_string()
    }

    #[tokio::test]
    async fn an_init_error_surfaces_in_ready_and_invoke() {
        // GIVEN a runtime api
        let api = RuntimeApi::start().await.unwrap();

        // WHEN the runtime reports that it could not initialise
        let status = reqwest::Client::new()
            .post(url(&api, "/init/error"))
            .header(FUNCTION_ERROR_TYPE, "Runtime.InitError")
            .json(&json!({"errorType": "ConfigError", "errorMessage": "BRIDGE_X is missing"}))
            .send()
            .await
            .unwrap()
            .status();

        // THEN ready and invoke fail with what it posted
        assert_eq!(status, StatusCode::ACCEPTED);
        let error = api.ready(WAIT).await.unwrap_err().to_string();
        assert!(
            error.contains("ConfigError: BRIDGE_X is missing"),
            "{error}"
        );
        let error = api.invoke(json!({}), WAIT).await.unwrap_err().to_string();
        assert!(error.contains("BRIDGE_X is missing"), "{error}");
    }

    #[tokio::test]
    async fn an_unpolled_invocation_times_out_and_frees_the_slot() {
        // GIVEN a runtime api with no runtime polling it
        let api = Arc::new(RuntimeApi::start().await.unwrap());

        // WHEN an invocation times out
        let error = api
            .invoke(json!({}), Duration::from_millis(50))
            .await
            .unwrap_err();

        // THEN the error says why, a late answer is refused, and the next invocation runs
        assert!(error.to_string().contains("never polled"), "{error}");
        let late = reqwest::Client::new()
            .post(url(
                &api,
                &format!("/invocation/{}/response", request_id(1)),
            ))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(late.status(), StatusCode::BAD_REQUEST);
        let runtime = tokio::spawn({
            let api = Arc::clone(&api);
            async move {
                let http = reqwest::Client::new();
                let (id, _, _) = poll(&http, &api).await;
                http.post(url(&api, &format!("/invocation/{id}/response")))
                    .body("not json")
                    .send()
                    .await
                    .unwrap();
            }
        });
        let invocation = api.invoke(json!({}), WAIT).await.unwrap();
        assert_eq!(invocation, Invocation::Response(json!("not json")));
        runtime.await.unwrap();
    }

    #[tokio::test]
    async fn lambda_env_points_at_this_api() {
        let api = RuntimeApi::start().await.unwrap();

        let env = api.lambda_env();

        let get = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
        };
        assert_eq!(get("AWS_LAMBDA_RUNTIME_API"), Some(api.address()));
        assert!(api.address().starts_with("127.0.0.1:"));
        assert_eq!(
            get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").as_deref(),
            Some("128")
        );
        assert_eq!(
            get("AWS_LAMBDA_FUNCTION_VERSION").as_deref(),
            Some("$LATEST")
        );
        assert!(get("AWS_LAMBDA_FUNCTION_NAME").is_some());
        assert!(get("AWS_LAMBDA_LOG_GROUP_NAME").is_some());
        assert!(get("AWS_LAMBDA_LOG_STREAM_NAME").is_some());
    }
}
