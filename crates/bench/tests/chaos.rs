#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A short chaos run (`bridge_bench::chaos`) in `make test`: 24 chats through connect-sim,
//! DynamoDB Local and moto behind fault proxies, two relay processes, two SIGKILLs and a
//! hand-over. `make chaos` runs the long one (500 chats).
//!
//! Needs the workspace's binaries built (`cargo build --workspace --bins`, as `make test`
//! does first) and the emulators: `scripts/with-emulators.sh cargo test -p bridge-bench`.

use std::path::PathBuf;

use bridge_testkit::emulators::{dynamodb_local, moto};

/// `target/debug`, where `bridge-relay` and `connect-sim` are built.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/chaos-<hash> → target/debug
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    for binary in ["bridge-relay", "connect-sim"] {
        assert!(
            dir.join(binary).is_file(),
            "{} is not built: run `cargo build --workspace --bins` first",
            dir.join(binary).display()
        );
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_text_and_reply_arrives_once_in_order_through_crashes_throttling_and_outages() {
    let figures = bridge_bench::chaos::run(bridge_bench::chaos::Params {
        chats: 24,
        kills: 2,
        bin_dir: bin_dir(),
        moto: moto(),
        dynamodb: dynamodb_local(),
    })
    .await
    .unwrap_or_else(|error| panic!("chaos run failed: {error:#}"));
    // The faults happened (a run where nothing went wrong proves nothing).
    assert_eq!((figures.kills, figures.handovers), (2, 1));
    assert!(figures.faults > 0, "{figures:?}");
    assert!(figures.retried_invocations > 0, "{figures:?}");
    assert!(figures.redelivered > 0, "{figures:?}");
    assert!(figures.ended > 0, "{figures:?}");
    println!("{}", figures.markdown());
}
