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
//! - [`sandbox`]: a local server speaking all three providers, with fault injection.
//! - [`cli`]: the `kirim` command line.
//!
//! See ARCHITECTURE.md for how a payout flows through them.

pub mod cli;
pub mod config;
pub mod domain;
pub mod providers;
pub mod redis_server;
pub mod sandbox;
pub mod snap;
pub mod telemetry;
