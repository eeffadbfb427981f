//! The one place that spells kirim's Redis key names (apalis names its own queue
//! keys under [`Keys::queue`]).
//!
//! Every key starts with the configured namespace (default `{kirim}`). kirim runs
//! on one primary (deploy/README.md, "Redis Cluster: not supported").

use crate::domain::{Provider, State};

/// Key builder for one namespace.
#[derive(Debug, Clone)]
pub struct Keys {
    ns: String,
}

impl Keys {
    pub fn new(namespace: &str) -> Self {
        Keys {
            ns: namespace.to_owned(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.ns
    }

    /// Prefix of payout hashes: `{ns}:payout:` + payout id.
    pub fn payout_prefix(&self) -> String {
        format!("{}:payout:", self.ns)
    }

    /// Prefix of history lists: `{ns}:history:` + payout id.
    pub fn history_prefix(&self) -> String {
        format!("{}:history:", self.ns)
    }

    /// The ledger record of one payout (a hash).
    pub fn payout(&self, id: &str) -> String {
        format!("{}:payout:{id}", self.ns)
    }

    /// The append-only audit trail of one payout (a list of JSON entries).
    pub fn history(&self, id: &str) -> String {
        format!("{}:history:{id}", self.ns)
    }

    /// Provider reference → partner reference, for providers whose notifications
    /// name only their own id (see `PayoutProvider::notifies_by_provider_reference`).
    pub fn provider_reference_index(&self, provider: &str) -> String {
        format!("{}:provref:{provider}", self.ns)
    }

    /// Prefix of the per-state sets: `{ns}:state:` + state name.
    pub fn state_prefix(&self) -> String {
        format!("{}:state:", self.ns)
    }

    /// Set of payout ids currently in `state`.
    pub fn state_set(&self, state: State) -> String {
        format!("{}:state:{}", self.ns, state.as_str())
    }

    /// Due-time index: sorted set of non-final payout ids, score = due time (ms).
    pub fn due(&self) -> String {
        format!("{}:due", self.ns)
    }

    /// Final payouts not yet in their cold form, scored by the time they became
    /// final (ms): transition.lua adds, compact.lua removes.
    pub fn cold(&self) -> String {
        format!("{}:cold", self.ns)
    }

    /// The API rate limit state of one API client (GCRA's next arrival time,
    /// microseconds; expires when idle). Shared by every `kirim serve` replica.
    pub fn rate_limit(&self, client: &str) -> String {
        format!("{}:ratelimit:{client}", self.ns)
    }

    /// Dead letters: hash of dead-letter id → JSON.
    pub fn dead(&self) -> String {
        format!("{}:dead", self.ns)
    }

    /// Notification outbox: hash of event id → event record JSON.
    pub fn events(&self) -> String {
        format!("{}:events", self.ns)
    }

    /// Notification delivery schedule: sorted set of event ids by next attempt (ms).
    pub fn events_due(&self) -> String {
        format!("{}:events:due", self.ns)
    }

    /// Counter for dead-letter ids.
    pub fn dead_seq(&self) -> String {
        format!("{}:dead:seq", self.ns)
    }

    /// "An inquiry job for this payout is queued": at most one at a time (set with
    /// NX by whoever queues one, deleted when the job starts, expires as a safety net).
    pub fn inquiry_marker(&self, id: &str) -> String {
        format!("{}:inq:{id}", self.ns)
    }

    /// Coalesces the inquiries that refused (unsigned, forged) callbacks may trigger:
    /// at most one per payout per interval.
    pub fn refused_callback_marker(&self, id: &str) -> String {
        format!("{}:cbref:{id}", self.ns)
    }

    /// Once-per-tick marker for the reconciliation sweep.
    pub fn sweep_tick(&self, tick: u64) -> String {
        format!("{}:sweep:tick:{tick}", self.ns)
    }

    /// Published circuit-breaker state of one provider (a hash; see `circuit::publish`).
    /// One per provider, shared by every process: the latest transition wins.
    pub fn circuit(&self, provider: Provider) -> String {
        format!("{}:circuit:{}", self.ns, provider.as_str())
    }

    /// Lease for singleton housekeeping (retention).
    pub fn lease(&self, name: &str) -> String {
        format!("{}:lease:{name}", self.ns)
    }

    /// An apalis queue name (apalis appends `:active`, `:data`, …), one per lane.
    pub fn queue(&self, lane: &str) -> String {
        format!("{}:jobs:{lane}", self.ns)
    }

    /// Provider call counters (a hash `provider|op|outcome` → count).
    pub fn metrics_jobs(&self) -> String {
        format!("{}:metrics:jobs", self.ns)
    }

    /// Provider call latency histogram buckets (a hash).
    pub fn metrics_latency(&self) -> String {
        format!("{}:metrics:latency", self.ns)
    }

    /// Alert counters (a hash `provider|kind` → count).
    pub fn metrics_alerts(&self) -> String {
        format!("{}:metrics:alerts", self.ns)
    }

    /// Delivery state of the application notifications (a hash).
    pub fn event_deliveries(&self) -> String {
        format!("{}:events:delivery", self.ns)
    }

    /// An API idempotency key of one caller.
    pub fn idempotency(&self, caller: &str, key: &str) -> String {
        format!("{}:idem:{caller}:{key}", self.ns)
    }

    /// The operator console's overview samples (a sorted set by time).
    pub fn console_samples(&self) -> String {
        format!("{}:console:samples", self.ns)
    }

    /// The operator console's audit list (newest first, capped).
    pub fn console_audit(&self) -> String {
        format!("{}:console:audit", self.ns)
    }

    /// Marks a logged-out console session as revoked until it would have expired.
    pub fn console_revoked(&self, sid: &str) -> String {
        format!("{}:console:revoked:{sid}", self.ns)
    }

    /// Failed console logins of one user name (hashed), with a TTL.
    pub fn console_login_failures(&self, name_sha256: &str) -> String {
        format!("{}:console:login_failures:{name_sha256}", self.ns)
    }

    /// Counts of the latest `kirim recon report` (a hash `provider|verdict` → n, and `date`).
    pub fn recon_counts(&self) -> String {
        format!("{}:recon:last", self.ns)
    }
}
