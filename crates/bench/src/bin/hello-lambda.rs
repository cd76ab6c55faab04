//! `hello-lambda`: the smallest Rust Lambda, the floor `inbound-bench startup` measures
//! `bridge-inbound` against.
//!
//! The hello-world Lambda as the Rust runtime's own examples write it (`lambda_runtime` with
//! the same features as `bridge-inbound`, a plain `#[tokio::main]`), and nothing else: no
//! logging, no configuration, no AWS clients. What `bridge-inbound` takes beyond this is
//! the bridge's own start-up.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // `--help` / `--version` only: anything more would stop it being the floor.
    if let Some(flag) = std::env::args().nth(1) {
        match flag.as_str() {
            "--version" | "-V" => println!("hello-lambda {}", env!("CARGO_PKG_VERSION")),
            _ => println!(
                "hello-lambda {}\nThe hello-world Rust Lambda that `inbound-bench startup` \
                 measures bridge-inbound against.\nRuns under the Lambda Runtime API \
                 (AWS_LAMBDA_RUNTIME_API); reads no other variable.",
                env!("CARGO_PKG_VERSION")
            ),
        }
        return Ok(());
    }
    run(service_fn(hello)).await
}

/// Answers with the event's SNS record count, so the caller sees the event was read.
async fn hello(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let records = event
        .payload
        .get("Records")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    Ok(json!({ "records": records }))
}

#[cfg(test)]
mod tests {
    use lambda_runtime::Context;

    use super::*;

    #[tokio::test]
    async fn answers_with_the_record_count() {
        let event = LambdaEvent::new(json!({"Records": [{}, {}]}), Context::default());

        let response = hello(event).await.unwrap();

        assert_eq!(response, json!({"records": 2}));
    }

    #[tokio::test]
    async fn an_event_without_records_counts_zero() {
        let event = LambdaEvent::new(json!({"hello": "world"}), Context::default());

        assert_eq!(hello(event).await.unwrap(), json!({"records": 0}));
    }
}
