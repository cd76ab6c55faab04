//! The names dynamo.rs reaches through `common::`, now the testkit's
//! (`bridge_testkit::emulators`, `bridge_testkit::fresh`); the other adapter tests use the
//! testkit directly. Remove this module once dynamo.rs does too.
#![allow(dead_code, unused_imports)]

pub use bridge_testkit::emulators::{client_settings as settings, dead_endpoint, endpoint};
pub use bridge_testkit::fresh::name as unique;
