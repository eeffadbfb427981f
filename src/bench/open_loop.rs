//! Open loop: payouts offered through the real HTTP API (`kirim serve`) at a fixed
//! rate — request i leaves at t0 + i/R whether or not earlier ones have answered —
//! and how long each took from its request to a final state.
//!
//! The world is [`BenchEnv`]'s (private Redis, the sandbox answering SUCCESS at once,
//! W `kirim worker --no-sweep` processes, as in [`super::e2e`]) plus one
//! `kirim serve` process with an API key of its own and its rate limit above the
//! offered rate. Nothing is polled per payout: after the run the ledger gives, per
//! payout, the `at` (wall clock, ms) of the history entry that made it final, which
//! is set against the wall-clock time its request was sent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio::task::JoinSet;

use super::e2e::{spawn_workers, wait_done, wait_registered, ProviderMix};
use super::env::BenchEnv;
use super::procs::{self, Spawn, Workers};
use super::redis_stats::{snapshot, RedisDelta};
use super::stats::Summary;
use crate::config::Settings;
use crate::domain::{PartnerReference, State};
use crate::jobs::Queue;
use crate::ledger::{Ledger, PayoutId};

/// A request that starts more than this after its slot in the schedule, or finds
/// every connection busy at its slot, is a late start.
pub const LATE_AFTER: Duration = Duration::from_millis(5);

/// Most payouts one run may offer (rate × duration).
const MAX_REQUESTS: f64 = 10_000_000.0;

/// One open-loop configuration.
#[derive(Debug, Clone, Serialize)]
pub struct OpenLoopOptions {
    /// Payouts offered per second.
    pub rate: f64,
    /// Seconds of offering.
    pub duration_secs: f64,
    pub workers: usize,
    pub concurrency: usize,
    pub poll_ms: u64,
    pub mix: ProviderMix,
    /// Requests in flight at most (so HTTP connections to the API at most).
    pub connections: usize,
}

impl OpenLoopOptions {
    /// Payouts offered: rate × duration, rounded.
    pub fn requests(&self) -> anyhow::Result<usize> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            bail!("--rate must be a positive number of payouts per second");
        }
        if !(self.duration_secs.is_finite() && self.duration_secs > 0.0) {
            bail!("--duration must be a positive number of seconds");
        }
        let n = (self.rate * self.duration_secs).round();
        if n < 1.0 {
            bail!("--rate × --duration offers no payout");
        }
        if n > MAX_REQUESTS {
            bail!("--rate × --duration offers more than {MAX_REQUESTS} payouts");
        }
        Ok(n as usize)
    }

    /// When request `i` is due, after the start of the schedule.
    pub fn slot(&self, i: usize) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }
}

/// What one open-loop run measured.
#[derive(Debug, Clone, Serialize)]
pub struct OpenLoopReport {
    pub options: OpenLoopOptions,
    /// Requests scheduled (rate × duration).
    pub offered: usize,
    pub offered_rate: f64,
    /// Requests started per second, first start to last.
    pub achieved_rate: f64,
    /// Payouts final per second, first request to last final state.
    pub completion_rate: f64,
    /// Answered 201 (or 200, already known) by the API.
    pub accepted: usize,
    /// Requests not accepted, by HTTP status or transport error.
    pub errors: BTreeMap<String, u64>,
    /// Accepted payouts that reached a final state.
    pub completed: usize,
    /// Requests that started more than [`LATE_AFTER`] behind their slot or had to
    /// wait for a free connection.
    pub late_starts: usize,
    /// Start behind the schedule, µs (every request).
    pub start_lag_us: Summary,
    /// Request sent → response read, µs (accepted requests): the API's own latency.
    pub api_us: Summary,
    /// Request sent → final state in the ledger, ms (completed payouts).
    pub enqueue_to_final_ms: Summary,
    /// Accepted payouts by state at the end.
    pub states: BTreeMap<String, u64>,
    /// CPU seconds of the worker processes while the load ran.
    pub worker_cpu_secs: f64,
    pub worker_cpu_us_per_payout: f64,
    /// CPU seconds of the `kirim serve` process while the load ran.
    pub api_cpu_secs: f64,
    pub api_cpu_us_per_payout: f64,
    pub api_peak_rss_mib: f64,
    /// The benchmark process: load generator, progress polling and the in-process sandbox.
    pub driver_cpu_secs: f64,
    pub redis_cpu_secs: f64,
    pub redis_calls_per_payout: f64,
}

/// One request as the load generator saw it.
#[derive(Debug, Clone)]
struct Sent {
    index: usize,
    /// Start, µs after the schedule's t0.
    start_us: i64,
    /// Start behind the request's slot, µs.
    lag_us: i64,
    late: bool,
    /// Wall clock at the start, µs since the epoch (the ledger's clock, in ms).
    sent_wall_us: i64,
    /// Start → response body read, µs.
    api_us: i64,
    /// HTTP status, or the kind of transport error.
    outcome: Result<u16, &'static str>,
}

impl Sent {
    fn accepted(&self) -> bool {
        matches!(self.outcome, Ok(200 | 201))
    }
}

/// The JSON body of payout `i` (the shape of `POST /v1/transfers`).
fn body(mix: ProviderMix, tag: &str, i: usize) -> anyhow::Result<(PayoutId, Vec<u8>)> {
    let provider = mix.provider(i);
    let reference = PartnerReference::parse(&format!("O{tag}-{i:09}"))?;
    let json = serde_json::json!({
        "provider": provider.as_str(),
        "partnerReferenceNo": reference.as_str(),
        "amount": {"value": "150000.00", "currency": "IDR"},
        "beneficiary": {
            "accountNo": format!("8{:09}", i % 1_000_000_000),
            "bankCode": "014",
            "name": "Budi Santoso",
            // NICEPAY's registration requires a phone (beneficiaryPhone).
            "phone": "081234567890",
        },
        "remark": "bench",
    });
    Ok((
        PayoutId::new(provider, reference),
        serde_json::to_vec(&json)?,
    ))
}

fn transport_error(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    }
}

/// Everything a request task needs besides its own body.
#[derive(Clone)]
struct Target {
    http: reqwest::Client,
    url: Arc<str>,
    key: Arc<str>,
    t0: Instant,
}

async fn offer(
    to: Target,
    index: usize,
    body: Vec<u8>,
    due: Instant,
    waited: bool,
    _permit: OwnedSemaphorePermit,
) -> Sent {
    let started = Instant::now();
    let sent_wall_us = chrono::Utc::now().timestamp_micros();
    let lag = started.saturating_duration_since(due);
    let sent = to
        .http
        .post(&*to.url)
        .header("X-API-Key", &*to.key)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await;
    let outcome = match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            // Read the answer to the end so the connection goes back to the pool.
            match resp.bytes().await {
                Ok(_) => Ok(status),
                Err(e) => Err(transport_error(&e)),
            }
        }
        Err(e) => Err(transport_error(&e)),
    };
    Sent {
        index,
        start_us: started.saturating_duration_since(to.t0).as_micros() as i64,
        lag_us: lag.as_micros() as i64,
        late: waited || lag > LATE_AFTER,
        sent_wall_us,
        api_us: started.elapsed().as_micros() as i64,
        outcome,
    }
}

/// Send `bodies` on schedule: body i at t0 + slot(i), at most `connections` in flight.
async fn offer_all(
    o: &OpenLoopOptions,
    to: Target,
    bodies: Vec<Vec<u8>>,
) -> anyhow::Result<Vec<Sent>> {
    let pool = Arc::new(Semaphore::new(o.connections.max(1)));
    let mut tasks = JoinSet::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let due = to.t0 + o.slot(i);
        // Computed deadlines: a late wake-up sends what is due at once (a burst)
        // and the schedule does not drift.
        tokio::time::sleep_until(due.into()).await;
        let (permit, waited) = match pool.clone().try_acquire_owned() {
            Ok(p) => (p, false),
            Err(TryAcquireError::NoPermits) => (
                pool.clone()
                    .acquire_owned()
                    .await
                    .context("connection pool closed")?,
                true,
            ),
            Err(TryAcquireError::Closed) => bail!("connection pool closed"),
        };
        tasks.spawn(offer(to.clone(), i, body, due, waited, permit));
    }
    let mut sent = Vec::new();
    while let Some(done) = tasks.join_next().await {
        sent.push(done.context("a request task failed")?);
    }
    sent.sort_by_key(|s| s.index);
    Ok(sent)
}

/// Start `kirim serve` on a free loopback port with `key` accepted and a rate limit
/// above `rate`; returns the process and its base URL once `/readyz` answers.
async fn start_api(
    env: &BenchEnv,
    s: &Settings,
    key: &str,
    rate: f64,
    connections: usize,
) -> anyhow::Result<(Workers, String)> {
    // The port is free now; should another process take it first, `kirim serve`
    // exits and the wait below says so.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("find a free port for kirim serve")?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let sha = hex::encode(Sha256::digest(key.as_bytes()));
    let limit = (rate * 2.0).ceil().clamp(1_000.0, f64::from(u32::MAX / 2)) as u32;
    let mut child_env = env.child_env(s);
    // Its start-up warnings (callback URLs naming another port) are not the benchmark's.
    child_env.retain(|(k, _)| k != "KIRIM_LOG__FILTER" && k != "RUST_LOG");
    child_env.extend([
        ("KIRIM_LOG__FILTER".to_owned(), "error".to_owned()),
        ("RUST_LOG".to_owned(), "error".to_owned()),
        (
            "KIRIM_API__KEYS".to_owned(),
            format!("[{{name=\"bench\",sha256=\"{sha}\"}}]"),
        ),
        (
            "KIRIM_API__RATE_LIMIT_PER_SEC".to_owned(),
            limit.to_string(),
        ),
        (
            "KIRIM_API__RATE_LIMIT_BURST".to_owned(),
            (limit as usize + connections).to_string(),
        ),
    ]);
    let mut args = env.global_args();
    args.extend(["serve".to_owned(), "--bind".to_owned(), addr.clone()]);
    let how = Spawn {
        exe: env.exe.clone(),
        args,
        env: child_env,
    };
    let mut api = Workers::spawn(1, &how).context("start kirim serve")?;
    let base = format!("http://{addr}");
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = probe.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return Ok((api, base));
        }
        if !api.all_alive() {
            bail!("kirim serve exited during start-up (see its stderr above)");
        }
        if Instant::now() > deadline {
            bail!("kirim serve did not answer /readyz on {addr} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Per payout: the `at` (ms) of the history entry that made it final; and a count
/// of states.
async fn final_times(
    ledger: &Ledger,
    ids: &[String],
) -> anyhow::Result<(Vec<Option<i64>>, BTreeMap<String, u64>)> {
    let mut at = Vec::with_capacity(ids.len());
    let mut states: BTreeMap<String, u64> = BTreeMap::new();
    for (state, trail) in ledger.trails(ids).await? {
        *states.entry(state.unwrap_or_default()).or_default() += 1;
        at.push(
            trail
                .iter()
                .find(|e| e.to.is_some_and(State::is_final))
                .map(|e| e.at),
        );
    }
    Ok((at, states))
}

fn per_payout_us(cpu_secs: f64, payouts: usize) -> f64 {
    if payouts == 0 {
        0.0
    } else {
        cpu_secs * 1e6 / payouts as f64
    }
}

/// Requests started per second between the first and the last start.
fn achieved_rate(sent: &[Sent], o: &OpenLoopOptions) -> f64 {
    let first = sent.iter().map(|s| s.start_us).min();
    let last = sent.iter().map(|s| s.start_us).max();
    match (first, last) {
        (Some(a), Some(b)) if b > a => (sent.len() - 1) as f64 * 1e6 / (b - a) as f64,
        _ => sent.len() as f64 / o.duration_secs,
    }
}

/// One open-loop run: fresh keyspace and sandbox, W workers, one API process.
pub async fn run_open_loop(env: &BenchEnv, o: &OpenLoopOptions) -> anyhow::Result<OpenLoopReport> {
    let n = o.requests()?;
    let (s, sandbox) = env.begin_run(o.concurrency, o.poll_ms).await?;
    let ledger = Ledger::connect(&s.redis).await?;
    let queue = Queue::new(
        ledger.connection(),
        ledger.keys(),
        &crate::jobs::QueueOptions::from_settings(&s),
    );
    let mut conn = env.conn();
    let tag = super::e2e::run_tag(&s.redis.namespace);
    let (ids, bodies): (Vec<PayoutId>, Vec<Vec<u8>>) = (0..n)
        .map(|i| body(o.mix, &tag, i))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .unzip();

    let mut workers = spawn_workers(env, &s, o.workers, &["worker", "--no-sweep"])?;
    wait_registered(&mut conn, &queue, &mut workers, o.workers).await?;
    let key = format!("bench-{:032x}", rand::random::<u128>());
    let (mut api, base) = start_api(env, &s, &key, o.rate, o.connections).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(o.connections.max(1))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;

    let workers_cpu0 = workers.usage().cpu_secs;
    let api_cpu0 = api.usage().cpu_secs;
    let cpu0 = procs::self_cpu_secs();
    let before = snapshot(&mut conn).await?;
    let target = Target {
        http,
        url: format!("{base}/v1/transfers").into(),
        key: key.into(),
        t0: Instant::now(),
    };
    let sent = offer_all(o, target, bodies).await?;
    let accepted = sent.iter().filter(|x| x.accepted()).count();

    let finals = [State::Succeeded, State::Failed, State::Cancelled];
    let keys: Vec<String> = finals
        .iter()
        .map(|st| ledger.keys().state_set(*st))
        .collect();
    let (_, polls) = wait_done(&mut workers, accepted, Duration::from_millis(10), || {
        let mut c = conn.clone();
        let keys = keys.clone();
        async move {
            let mut pipe = redis::pipe();
            for k in &keys {
                pipe.scard(k);
            }
            let v: Vec<usize> = pipe.query_async(&mut c).await?;
            Ok(v.iter().sum())
        }
    })
    .await
    .context("waiting for the accepted payouts to be final")?;
    let worker_cpu = workers.usage().cpu_secs - workers_cpu0;
    let api_usage = api.usage();
    let api_alive = api.all_alive();
    let after = snapshot(&mut conn).await?;
    let driver_cpu = procs::self_cpu_secs() - cpu0;
    workers.stop(Duration::from_secs(10));
    api.stop(Duration::from_secs(10));
    sandbox.shutdown().await;
    if !api_alive {
        bail!("kirim serve exited during the run");
    }
    let own = [("scard".to_owned(), polls * keys.len() as u64)]
        .into_iter()
        .collect();
    let redis = RedisDelta::between(&before, &after, &own);

    // Final times from the ledger, for the accepted requests.
    let ok: Vec<&Sent> = sent.iter().filter(|x| x.accepted()).collect();
    let ok_ids: Vec<String> = ok.iter().map(|x| ids[x.index].to_string()).collect();
    let (final_at, states) = final_times(&ledger, &ok_ids).await?;
    let mut e2f = Vec::with_capacity(ok.len());
    let mut last_final = None::<i64>;
    for (x, at) in ok.iter().zip(&final_at) {
        if let Some(at) = at {
            e2f.push((at - x.sent_wall_us.div_euclid(1000)).max(0));
            last_final = Some(last_final.map_or(*at, |l| l.max(*at)));
        }
    }
    let first_sent_ms = sent.iter().map(|x| x.sent_wall_us.div_euclid(1000)).min();
    let completion_rate = match (first_sent_ms, last_final) {
        (Some(a), Some(b)) if b > a => e2f.len() as f64 * 1000.0 / (b - a) as f64,
        _ => 0.0,
    };
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for x in sent.iter().filter(|x| !x.accepted()) {
        let what = match x.outcome {
            Ok(status) => format!("HTTP {status}"),
            Err(kind) => kind.to_owned(),
        };
        *errors.entry(what).or_default() += 1;
    }
    let mut lags: Vec<i64> = sent.iter().map(|x| x.lag_us).collect();
    let mut api_lat: Vec<i64> = ok.iter().map(|x| x.api_us).collect();
    let completed = e2f.len();
    Ok(OpenLoopReport {
        offered: n,
        offered_rate: o.rate,
        achieved_rate: achieved_rate(&sent, o),
        completion_rate,
        accepted,
        errors,
        completed,
        late_starts: sent.iter().filter(|x| x.late).count(),
        start_lag_us: Summary::of(&mut lags),
        api_us: Summary::of(&mut api_lat),
        enqueue_to_final_ms: Summary::of(&mut e2f),
        states,
        worker_cpu_secs: worker_cpu,
        worker_cpu_us_per_payout: per_payout_us(worker_cpu, completed),
        api_cpu_secs: api_usage.cpu_secs - api_cpu0,
        api_cpu_us_per_payout: per_payout_us(api_usage.cpu_secs - api_cpu0, accepted),
        api_peak_rss_mib: api_usage.peak_rss_mib,
        driver_cpu_secs: driver_cpu,
        redis_cpu_secs: redis.cpu_secs,
        redis_calls_per_payout: if accepted == 0 {
            0.0
        } else {
            redis.all_calls as f64 / accepted as f64
        },
        options: o.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(rate: f64, duration_secs: f64) -> OpenLoopOptions {
        OpenLoopOptions {
            rate,
            duration_secs,
            workers: 1,
            concurrency: 1,
            poll_ms: 50,
            mix: ProviderMix::Ifortepay,
            connections: 4,
        }
    }

    #[test]
    fn requests_and_slots_follow_the_rate() {
        let o = options(1000.0, 10.0);
        assert_eq!(o.requests().ok(), Some(10_000));
        assert_eq!(o.slot(0), Duration::ZERO);
        assert_eq!(o.slot(1500), Duration::from_millis(1500));
        assert_eq!(options(50.0, 1.5).requests().ok(), Some(75));
        assert!(options(0.0, 1.0).requests().is_err());
        assert!(options(f64::NAN, 1.0).requests().is_err());
        assert!(options(10.0, -1.0).requests().is_err());
        assert!(options(0.1, 1.0).requests().is_err());
    }

    #[test]
    fn achieved_rate_is_starts_over_their_span() {
        let sent: Vec<Sent> = (0..11)
            .map(|i| Sent {
                index: i,
                start_us: i as i64 * 2_000,
                lag_us: 0,
                late: false,
                sent_wall_us: 0,
                api_us: 0,
                outcome: Ok(201),
            })
            .collect();
        // 10 intervals over 20 ms: 500/s.
        let r = achieved_rate(&sent, &options(1000.0, 1.0));
        assert!((r - 500.0).abs() < 1e-6, "{r}");
        assert!(sent.iter().all(Sent::accepted));
    }

    #[test]
    fn bodies_are_distinct_transfers() {
        let (a, ja) = body(ProviderMix::All, "abc123", 0).expect("body 0");
        let (b, _) = body(ProviderMix::All, "abc123", 1).expect("body 1");
        assert_ne!(a, b);
        let v: serde_json::Value = serde_json::from_slice(&ja).expect("json");
        assert_eq!(v["partnerReferenceNo"], "Oabc123-000000000");
        assert_eq!(v["provider"], a.provider.as_str());
    }
}
