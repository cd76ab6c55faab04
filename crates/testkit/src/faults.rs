//! A fault-injecting HTTP proxy in front of a local AWS emulator (moto, DynamoDB Local).
//!
//! The bridge's binaries reach AWS through `AWS_ENDPOINT_URL_<SERVICE>`; pointing one at a
//! [`FaultProxy`] instead of the emulator lets a test answer chosen operations with the
//! errors AWS answers with (throttling, 5xx, AuthorizationError, a KMS key disabled), add
//! latency, or swallow them whole (a black hole: no answer at all), while everything else
//! passes through untouched. The errors are real wire responses in each service's protocol,
//! so the real SDK parses and the real adapter classifies them: nothing of this lives in the
//! bridge's own crates, and no release build carries it.
//!
//! Operations are named as the call-budget test names them: `DynamoDB.UpdateItem` (from
//! `X-Amz-Target`), `SNS.Publish` (from the awsQuery `Action`), `S3.GET`/`S3.PUT`…
//! (anything else: the service is unknown, the method names it).
//!
//! Rules are tried in the order they were added; the first that matches a request and is
//! still armed (count left, not expired) decides. A rule with no operation matches every
//! request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The control API's path prefix (never forwarded).
pub const CONTROL: &str = "/_faults";

/// What a rule does to a matching request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this error, in the service's protocol (nothing reaches the emulator).
    Error {
        /// The HTTP status.
        status: u16,
        /// The AWS error code (`ThrottlingException`, `AuthorizationError`…).
        code: String,
    },
    /// Forward after this long.
    Delay {
        /// Milliseconds.
        millis: u64,
    },
    /// Never answer (the caller's timeout decides).
    BlackHole,
}

impl Fault {
    /// DynamoDB's throttling answer.
    pub fn throttled() -> Self {
        Self::Error {
            status: 400,
            code: "ThrottlingException".to_owned(),
        }
    }

    /// A 500 from the service.
    pub fn internal_error() -> Self {
        Self::Error {
            status: 500,
            code: "InternalServerError".to_owned(),
        }
    }

    /// SNS refusing the caller (a missing permission).
    pub fn authorization_error() -> Self {
        Self::Error {
            status: 403,
            code: "AuthorizationError".to_owned(),
        }
    }
}

/// When a fault applies.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rule {
    /// The operation (`DynamoDB.UpdateItem`, `SNS.Publish`); `None` for every request.
    #[serde(default)]
    pub operation: Option<String>,
    /// Only requests whose body contains this (a key: `LEASE#` for the relay's leases).
    #[serde(default)]
    pub body_contains: Option<String>,
    /// The fault.
    pub fault: Fault,
    /// How many requests it applies to; `None` for no limit.
    #[serde(default)]
    pub count: Option<u64>,
    /// For how long from now, in milliseconds; `None` for no limit.
    #[serde(default)]
    pub for_millis: Option<u64>,
}

impl Rule {
    /// `fault` on every request of `operation`, until cleared.
    pub fn on(operation: &str, fault: Fault) -> Self {
        Self {
            operation: Some(operation.to_owned()),
            body_contains: None,
            fault,
            count: None,
            for_millis: None,
        }
    }

    /// `fault` on every request, until cleared.
    pub fn all(fault: Fault) -> Self {
        Self {
            operation: None,
            body_contains: None,
            fault,
            count: None,
            for_millis: None,
        }
    }

    /// This rule only for requests whose body contains `text`.
    #[must_use]
    pub fn when_body_contains(self, text: &str) -> Self {
        Self {
            body_contains: Some(text.to_owned()),
            ..self
        }
    }

    /// This rule for the next `count` matching requests only.
    #[must_use]
    pub fn times(self, count: u64) -> Self {
        Self {
            count: Some(count),
            ..self
        }
    }

    /// This rule for `duration` from when it is added.
    #[must_use]
    pub fn for_duration(self, duration: Duration) -> Self {
        Self {
            for_millis: Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
            ..self
        }
    }
}

/// A rule as the proxy holds it.
#[derive(Debug)]
struct Armed {
    rule: Rule,
    until: Option<Instant>,
    left: Option<u64>,
    hits: u64,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    rules: Mutex<Vec<Armed>>,
    /// Requests seen, per operation name, in order (for assertions).
    seen: Mutex<Vec<String>>,
}

/// A running proxy (in this process).
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` on a free loopback port.
    ///
    /// # Errors
    /// When no port can be bound or the HTTP client cannot be built.
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::serve(listener, upstream).await
    }

    /// Serves on `listener` (the `fault-proxy` binary binds the port it is told).
    ///
    /// # Errors
    /// When the listener has no address or the HTTP client cannot be built.
    pub async fn serve(listener: TcpListener, upstream: &str) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            rules: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        });
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "fault proxy stopped");
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// The proxy's base URL: what `AWS_ENDPOINT_URL_<SERVICE>` should name.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a rule (after the existing ones).
    pub fn add(&self, rule: Rule) {
        add(&self.shared, rule);
    }

    /// Removes every rule: everything passes through again.
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
    }

    /// How many requests the rules have faulted so far.
    pub fn faulted(&self) -> u64 {
        lock(&self.shared.rules)
            .iter()
            .map(|armed| armed.hits)
            .sum()
    }

    /// The operations of every request seen, in order.
    pub fn seen(&self) -> Vec<String> {
        lock(&self.shared.seen).clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A std `Mutex` around short sections with no `.await`: a poisoned one is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn add(shared: &Shared, rule: Rule) {
    let until = rule
        .for_millis
        .map(|millis| Instant::now() + Duration::from_millis(millis));
    let left = rule.count;
    lock(&shared.rules).push(Armed {
        rule,
        until,
        left,
        hits: 0,
    });
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(CONTROL, post(control_add))
        .route(CONTROL, delete(control_clear))
        .route(CONTROL, get(control_status))
        .fallback(forward)
        .with_state(shared)
}

async fn control_add(
    State(shared): State<Arc<Shared>>,
    axum::Json(rule): axum::Json<Rule>,
) -> StatusCode {
    tracing::info!(?rule, "fault added");
    add(&shared, rule);
    StatusCode::NO_CONTENT
}

async fn control_clear(State(shared): State<Arc<Shared>>) -> StatusCode {
    lock(&shared.rules).clear();
    tracing::info!("faults cleared");
    StatusCode::NO_CONTENT
}

#[derive(Serialize)]
struct Status {
    rules: usize,
    faulted: u64,
    seen: usize,
}

async fn control_status(State(shared): State<Arc<Shared>>) -> axum::Json<Status> {
    let rules = lock(&shared.rules);
    axum::Json(Status {
        rules: rules.len(),
        faulted: rules.iter().map(|armed| armed.hits).sum(),
        seen: lock(&shared.seen).len(),
    })
}

/// The service a request is for, and its operation name.
fn operation(method: &Method, headers: &HeaderMap, body: &[u8]) -> (Service, String) {
    if let Some(target) = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
    {
        let op = target.rsplit('.').next().unwrap_or(target);
        return (Service::Dynamodb, format!("DynamoDB.{op}"));
    }
    let form = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if form {
        let action = std::str::from_utf8(body)
            .ok()
            .and_then(|text| {
                text.split('&')
                    .find_map(|pair| pair.strip_prefix("Action="))
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        return (Service::Sns, format!("SNS.{action}"));
    }
    (Service::Other, format!("S3.{method}"))
}

/// The protocol an error answer is written in.
#[derive(Clone, Copy, Debug)]
enum Service {
    /// awsJson1_0.
    Dynamodb,
    /// awsQuery (XML errors).
    Sns,
    /// REST-XML (S3).
    Other,
}

/// The first armed rule matching `op` and `body`, counted as used.
fn decide(shared: &Shared, op: &str, body: &[u8]) -> Option<Fault> {
    let now = Instant::now();
    let mut rules = lock(&shared.rules);
    let armed = rules.iter_mut().find(|armed| {
        armed
            .rule
            .operation
            .as_deref()
            .is_none_or(|wanted| wanted == op)
            && armed.rule.body_contains.as_deref().is_none_or(|text| {
                body.windows(text.len().max(1))
                    .any(|window| window == text.as_bytes())
            })
            && armed.until.is_none_or(|until| now < until)
            && armed.left != Some(0)
    })?;
    if let Some(left) = armed.left.as_mut() {
        *left -= 1;
    }
    armed.hits += 1;
    Some(armed.rule.fault.clone())
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(body) => body,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let (service, op) = operation(&parts.method, &parts.headers, &body);
    lock(&shared.seen).push(op.clone());
    match decide(&shared, &op, &body) {
        Some(Fault::Error { status, code }) => {
            return error_response(service, status, &code, &body);
        }
        Some(Fault::BlackHole) => std::future::pending::<()>().await,
        Some(Fault::Delay { millis }) => tokio::time::sleep(Duration::from_millis(millis)).await,
        None => {}
    }
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned();
    let mut upstream = shared
        .http
        .request(parts.method.clone(), format!("{}{path}", shared.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    match upstream.send().await {
        Ok(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap_or_default();
            let mut answer = Response::new(Body::from(body));
            *answer.status_mut() = status;
            for (name, value) in &headers {
                if name != "transfer-encoding" && name != "content-length" {
                    answer.headers_mut().append(name.clone(), value.clone());
                }
            }
            answer
        }
        Err(error) => {
            tracing::warn!(%error, "fault proxy: upstream unreachable");
            StatusCode::BAD_GATEWAY.into_response()
        }
    }
}

/// The `PhoneNumber` of an awsQuery SNS request, decoded.
fn phone_number(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let value = text
        .split('&')
        .find_map(|pair| pair.strip_prefix("PhoneNumber="))?;
    Some(value.replace("%2B", "+").replace("%2b", "+"))
}

/// An AWS error answer in `service`'s protocol. Like AWS's own, an SNS refusal quotes the
/// resource it was refused on, the destination phone number included: what the bridge logs
/// of it must not.
fn error_response(service: Service, status: u16, code: &str, body: &[u8]) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match (service, phone_number(body)) {
        (Service::Sns, Some(number)) if code == "AuthorizationError" => format!(
            "User: arn:aws:sts::000000000000:assumed-role/bridge-relay/task is not \
             authorized to perform: SNS:Publish on resource: {number} (injected by the \
             fault proxy: {code})"
        ),
        (Service::Sns, Some(number)) => {
            format!("Publish to {number} failed (injected by the fault proxy: {code})")
        }
        _ => format!("injected by the fault proxy: {code}"),
    };
    let (content_type, body) = match service {
        Service::Dynamodb => (
            "application/x-amz-json-1.0",
            serde_json::json!({
                "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
                "message": message,
            })
            .to_string(),
        ),
        Service::Sns => (
            "text/xml",
            format!(
                "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>\
                 <Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>fault-proxy</RequestId></ErrorResponse>"
            ),
        ),
        Service::Other => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>\
                 <Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
            ),
        ),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        HeaderName::from_static("content-type"),
        HeaderValue::from_static(content_type),
    );
    if let Ok(value) = HeaderValue::from_str(code) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-amzn-errortype"), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_by_service() {
        let mut dynamodb = HeaderMap::new();
        dynamodb.insert(
            "x-amz-target",
            HeaderValue::from_static("DynamoDB_20120810.UpdateItem"),
        );
        assert_eq!(
            operation(&Method::POST, &dynamodb, b"{}").1,
            "DynamoDB.UpdateItem"
        );
        let mut sns = HeaderMap::new();
        sns.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        assert_eq!(
            operation(&Method::POST, &sns, b"Action=Publish&Version=2010-03-31").1,
            "SNS.Publish"
        );
        assert_eq!(operation(&Method::GET, &HeaderMap::new(), b"").1, "S3.GET");
    }

    #[test]
    fn rules_apply_in_order_while_armed() {
        let shared = Shared {
            upstream: String::new(),
            http: reqwest::Client::new(),
            rules: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        };
        add(
            &shared,
            Rule::on("SNS.Publish", Fault::authorization_error()).times(2),
        );
        add(&shared, Rule::all(Fault::Delay { millis: 5 }));
        assert_eq!(
            decide(&shared, "SNS.Publish", b""),
            Some(Fault::authorization_error())
        );
        assert_eq!(
            decide(&shared, "SNS.Publish", b""),
            Some(Fault::authorization_error())
        );
        assert_eq!(
            decide(&shared, "SNS.Publish", b""),
            Some(Fault::Delay { millis: 5 })
        );
        assert_eq!(
            decide(&shared, "DynamoDB.GetItem", b""),
            Some(Fault::Delay { millis: 5 })
        );
        lock(&shared.rules).clear();
        assert_eq!(decide(&shared, "SNS.Publish", b""), None);
        add(
            &shared,
            Rule::all(Fault::throttled()).when_body_contains("LEASE#"),
        );
        assert_eq!(
            decide(&shared, "DynamoDB.UpdateItem", b"{\"pk\":\"SESSION#1\"}"),
            None
        );
        assert_eq!(
            decide(&shared, "DynamoDB.UpdateItem", b"{\"pk\":\"LEASE#7\"}"),
            Some(Fault::throttled())
        );
    }
}
