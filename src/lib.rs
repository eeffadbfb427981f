//! # kirim — a durable payout worker for SNAP-BI providers
//!
//! Applications enqueue transfers, inquiries and direct-debit payments; workers sign
//! and send them to iFortepay, NICEPAY or Singapay; reconciliation polls until every
//! in-progress payout is final. The one rule: never pay twice, never lose a payout.
//!
//! # Layout
//! - [`snap`]: SNAP signatures, minify, timestamps, keys, response codes (pure).
//! - [`domain`]: money and identifiers that can only hold valid values.
//! - [`config`]: layered, validated settings; secrets only from env or files.
//! - [`telemetry`]: tracing setup (human or JSON).
//! - [`redis_server`]: a real Redis for tests and the demo.
//! - [`providers`]: the one provider interface and the shared outcome taxonomy.
//! - [`ledger`]: the payout record, its forward-only state machine (Lua CAS) and audit trail.
//! - [`keys`]: the one place that spells Redis key names.
//! - [`lifecycle`]: the pure decision core: what any news means for a payout (no I/O).
//! - [`jobs`]: the apalis queue, job kinds, the handler engine and dead letters.
//! - [`retry`]: full-jitter backoff and the reconciliation schedule.
//! - [`circuit`]: per-provider circuit breakers that pause and probe a failing provider.
//! - [`sweep`]: reconciliation over the due-time index, once per tick across replicas.
//! - [`worker`]: the worker process (apalis monitor, promoter, retention, sweep).
//! - [`metrics`]: provider call counters (flushed to Redis) and the Prometheus rendering.
//! - [`notify`]: signed application notifications from a transactional outbox.
//! - [`client`]: `kirim::Client`, the producer API.
//! - [`api`]: `kirim serve`, the HTTP API (axum), health and metrics.
//! - [`console`]: the operator console at `/ui` (server-rendered pages, sessions, CSRF).
//! - [`callbacks`]: verified provider callbacks, applied as forward moves only.
//! - [`sandbox`]: a local server speaking all three providers, with fault injection.
//! - [`demo`]: `kirim demo`, the whole stack in one process with a live table.
//! - [`bench`]: `kirim bench`, end-to-end throughput and cost per payout vs the bare queue.
//! - [`cli`]: the `kirim` command line.
//!
//! See ARCHITECTURE.md for how a payout flows through them.

pub mod admit;
pub mod api;
pub mod banks;
pub mod bench;
pub mod callbacks;
pub mod circuit;
pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod demo;
pub mod domain;
pub mod durability;
pub mod jobs;
pub mod keys;
pub mod lane_watch;
pub mod ledger;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
pub mod providers;
pub mod recon;
pub mod redis_conn;
pub mod redis_server;
pub mod retry;
pub mod sandbox;
pub mod snap;
pub mod sweep;
pub mod telemetry;
pub mod worker;

pub use client::Client;
