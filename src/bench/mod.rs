//! `kirim bench`: end-to-end throughput, latency and cost per payout, measured on a
//! real Redis against the in-process sandbox, next to the bare apalis queue.
//!
//! - [`env`]: the benchmark's Redis, sandbox and the settings the workers get.
//! - [`e2e`]: N transfers through W `kirim worker` processes, then the same N jobs
//!   through W no-op workers ([`noop`]) on the same apalis configuration.
//! - [`open_loop`]: payouts offered at a fixed rate through `kirim serve`; latency
//!   from request to final state at that load (not behind a backlog).
//! - [`scale`]: Redis memory per ledger record; sweep time against due-index size.
//! - [`redis_stats`], [`procs`], [`stats`]: counters, child processes, and the pure
//!   arithmetic (percentiles, `INFO` and `/proc` parsing).
//!
//! Not a timed test: the figures go to BENCHMARKS.md, with the machine they came from.

pub mod e2e;
pub mod env;
pub mod noop;
pub mod open_loop;
pub mod pin;
pub mod procs;
pub mod redis_stats;
pub mod scale;
pub mod stats;
