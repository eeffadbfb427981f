//! The integration tests, in one binary: each test binary links the whole crate,
//! which was most of `cargo test`'s build time on two cores (BENCHMARKS.md).
//! Every module starts its own Redis, sandbox and workers; see `common`.
//!
//! `tests/sentinel.rs` stays a binary of its own: it sets process environment
//! variables, which must not leak into the worker processes other tests spawn.

mod common;
mod console_support;

mod api;
mod bench;
mod circuit;
mod cli_sign;
mod compact;
mod console;
mod crash;
mod doctor;
mod door;
mod durability;
mod fence_write;
mod lane_backend;
mod lane_watch;
mod ledger;
mod lifecycle_e2e;
mod pipeline;
mod providers;
mod recon;
mod reconcile;
mod reoffer;
mod sandbox;
mod toy_provider;
