//! Access-token cache, one per provider and credential.
//!
//! Providers rate-limit their token endpoints and NOTES.md says it plainly: never
//! fetch a token per request. The cache holds one token, hands it out until
//! `refresh_margin` before it expires, and refreshes it single flight: one caller
//! fetches under a `tokio::sync::Mutex`, concurrent callers queue behind it and then
//! all use its result (no stampede).
//!
//! # A failed fetch fails every waiter of that generation
//! Every finished fetch (success or failure) starts a new *generation*. A caller
//! that queued behind a fetch takes that fetch's result, whatever it was: on
//! failure it gets a copy of the same error at once instead of running its own
//! fetch. Otherwise N queued callers behind a failing token endpoint would fetch
//! one after the other, each for up to the request timeout, and the last one would
//! send its payout minutes after it won the submission (review H3, M9). A caller
//! that arrives *after* a failure is not a waiter of that generation: it fetches
//! again (failures are never cached).
//!
//! An invalid-token answer (SNAP `401xx01`/`401xx03`, Singapay `SP013`) calls
//! [`TokenCache::refresh_if_current`] with the token that was rejected: only the
//! first of many callers rejected with the same token fetches a new one; the others
//! find it already replaced and reuse the new one.
//!
//! The fast path (a usable token) takes only a short `std::sync::Mutex`, never held
//! across an `.await`.
//!
//! The clock is `tokio::time::Instant` so tests can drive expiry with paused time.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::ProviderError;
use crate::domain::Secret;

/// A bearer token and when it stops being usable.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token, without `Bearer `. Redacted in `Debug`.
    pub value: Secret,
    /// When the provider said it expires.
    pub expires_at: Instant,
    /// The lifetime the provider announced (`expiresIn`).
    pub lifetime: Duration,
}

impl AccessToken {
    pub fn new(value: Secret, lifetime: Duration) -> Self {
        AccessToken {
            value,
            expires_at: Instant::now() + lifetime,
            lifetime,
        }
    }

    /// Seconds until expiry (0 when expired).
    pub fn remaining(&self) -> Duration {
        self.expires_at.saturating_duration_since(Instant::now())
    }

    /// The token masked for display: first 4 and last 4 characters at most, and only
    /// when the token is long enough that this reveals little.
    pub fn masked(&self) -> String {
        mask(self.value.expose())
    }
}

/// Mask a token for the CLI: `eyJh…Xw9A (412 chars)`.
pub fn mask(token: &str) -> String {
    let n = token.chars().count();
    if n < 24 {
        return format!("**** ({n} chars)");
    }
    let head: String = token.chars().take(4).collect();
    let tail: String = token.chars().skip(n - 4).collect();
    format!("{head}…{tail} ({n} chars)")
}

/// An error every waiter of a failed fetch receives its own copy of.
pub trait ShareError {
    fn share(&self) -> Self;
}

impl<T: Clone> ShareError for T {
    fn share(&self) -> Self {
        self.clone()
    }
}

/// `ProviderError` is not `Clone` (it is the crate's error contract); every variant
/// is made of cloneable parts, so a copy is exact.
impl ShareError for ProviderError {
    fn share(&self) -> Self {
        match self {
            ProviderError::Validation(f) => ProviderError::Validation(f.clone()),
            ProviderError::Fenced {
                reason,
                sent_before,
            } => ProviderError::Fenced {
                reason: reason.clone(),
                sent_before: *sent_before,
            },
            ProviderError::Unsupported {
                provider,
                operation,
            } => ProviderError::Unsupported {
                provider: *provider,
                operation,
            },
            ProviderError::Config(c) => ProviderError::Config(c.clone()),
            ProviderError::Call {
                operation,
                outcome,
                response_code,
            } => ProviderError::Call {
                operation,
                outcome: outcome.clone(),
                response_code: response_code.clone(),
            },
        }
    }
}

/// What the cache knows; guarded by a short blocking lock.
#[derive(Debug)]
struct Slot<E> {
    token: Option<AccessToken>,
    /// Fetches finished so far (successful or not).
    generation: u64,
    /// The error of the latest fetch, if it failed (cleared by a success).
    failure: Option<E>,
}

/// One provider credential's token. `E` is the fetch's error type.
#[derive(Debug)]
pub struct TokenCache<E = ProviderError> {
    /// `provider:client_id`, for logs.
    key: String,
    margin: Duration,
    slot: std::sync::Mutex<Slot<E>>,
    /// Held across a fetch: single flight.
    flight: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

/// What a caller queued behind the flight lock finds when it gets it.
enum Found<E> {
    Token(AccessToken),
    Failed(E),
    /// Nothing usable from a fetch this caller waited for: fetch.
    Fetch,
}

impl<E: ShareError> TokenCache<E> {
    pub fn new(key: impl Into<String>, margin: Duration) -> Self {
        TokenCache {
            key: key.into(),
            margin,
            slot: std::sync::Mutex::new(Slot {
                token: None,
                generation: 0,
                failure: None,
            }),
            flight: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// How many tokens were fetched so far (tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Forget the cached token (the CLI's `token` command wants a fresh one).
    pub async fn clear(&self) {
        self.lock().token = None;
    }

    /// The slot. A panic while it was held cannot leave it half-written (every
    /// critical section is a few assignments), so a poisoned lock is still usable.
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot<E>> {
        self.slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `token` may still be used. The margin is capped at half the lifetime:
    /// a provider that issues short tokens (shorter than the margin) would otherwise
    /// make every call fetch a token.
    fn usable(&self, token: &AccessToken) -> bool {
        let margin = self.margin.min(token.lifetime / 2);
        token.remaining() > margin
    }

    /// A usable token that `accept` allows, if the slot holds one.
    fn cached(&self, slot: &Slot<E>, accept: impl Fn(&AccessToken) -> bool) -> Option<AccessToken> {
        slot.token
            .as_ref()
            .filter(|t| self.usable(t) && accept(t))
            .cloned()
    }

    /// Under the flight lock: the result of the fetch(es) that finished since the
    /// caller saw generation `seen`.
    fn after_wait(&self, seen: u64, accept: impl Fn(&AccessToken) -> bool) -> Found<E> {
        let slot = self.lock();
        if let Some(t) = self.cached(&slot, &accept) {
            return Found::Token(t);
        }
        if slot.generation != seen {
            if let Some(e) = &slot.failure {
                return Found::Failed(e.share());
            }
        }
        Found::Fetch
    }

    /// The cached token, or a new one from `fetch` if there is none or it is near
    /// expiry. Callers arriving during a fetch wait for it and share its result.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<AccessToken, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, E>>,
    {
        self.obtain(|_| true, fetch).await
    }

    /// The provider rejected `stale` as invalid: fetch a new token unless another
    /// caller already replaced it.
    pub async fn refresh_if_current<F, Fut>(
        &self,
        stale: &Secret,
        fetch: F,
    ) -> Result<AccessToken, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, E>>,
    {
        self.obtain(|t| t.value != *stale, fetch).await
    }

    async fn obtain<F, Fut>(
        &self,
        accept: impl Fn(&AccessToken) -> bool,
        fetch: F,
    ) -> Result<AccessToken, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, E>>,
    {
        let seen = {
            let slot = self.lock();
            if let Some(t) = self.cached(&slot, &accept) {
                return Ok(t);
            }
            slot.generation
        };
        let _flight = self.flight.lock().await;
        match self.after_wait(seen, &accept) {
            Found::Token(t) => return Ok(t),
            Found::Failed(e) => return Err(e),
            Found::Fetch => {}
        }
        // Drop the old token first: if the fetch fails, nobody should keep using a
        // token we already decided to replace.
        self.lock().token = None;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = fetch().await;
        let mut slot = self.lock();
        slot.generation += 1;
        match result {
            Ok(token) => {
                tracing::debug!(key = %self.key, lifetime_secs = token.lifetime.as_secs(), "access token refreshed");
                slot.token = Some(token.clone());
                slot.failure = None;
                Ok(token)
            }
            Err(e) => {
                slot.failure = Some(e.share());
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tok(v: &str, secs: u64) -> AccessToken {
        AccessToken::new(Secret::new(v), Duration::from_secs(secs))
    }

    #[tokio::test(start_paused = true)]
    async fn fifty_concurrent_callers_cause_one_fetch() {
        let cache = Arc::new(TokenCache::new("t:c", Duration::from_secs(60)));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let cache = cache.clone();
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| async move {
                        // Hold the fetch open until the test releases it, so all 50
                        // callers are queued behind it.
                        gate.notified().await;
                        Ok::<_, ()>(tok("one", 900))
                    })
                    .await
            }));
        }
        // Let every task reach the lock, then release the single fetch.
        tokio::task::yield_now().await;
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().value.expose(), "one");
        }
        assert_eq!(cache.fetch_count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_margin_before_expiry() {
        let cache = TokenCache::new("t:c", Duration::from_secs(60));
        let a = cache
            .get(|| async { Ok::<_, ()>(tok("a", 900)) })
            .await
            .unwrap();
        assert_eq!(a.value.expose(), "a");
        tokio::time::advance(Duration::from_secs(839)).await;
        let still = cache
            .get(|| async { Ok::<_, ()>(tok("b", 900)) })
            .await
            .unwrap();
        assert_eq!(still.value.expose(), "a", "61 s left: keep");
        tokio::time::advance(Duration::from_secs(2)).await;
        let fresh = cache
            .get(|| async { Ok::<_, ()>(tok("b", 900)) })
            .await
            .unwrap();
        assert_eq!(fresh.value.expose(), "b", "59 s left: refresh");
        assert_eq!(cache.fetch_count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn short_tokens_are_not_fetched_per_call() {
        let cache = TokenCache::new("t:c", Duration::from_secs(60));
        cache
            .get(|| async { Ok::<_, ()>(tok("a", 10)) })
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(4)).await;
        let t = cache
            .get(|| async { Ok::<_, ()>(tok("b", 10)) })
            .await
            .unwrap();
        assert_eq!(t.value.expose(), "a");
        tokio::time::advance(Duration::from_secs(2)).await;
        let t = cache
            .get(|| async { Ok::<_, ()>(tok("b", 10)) })
            .await
            .unwrap();
        assert_eq!(t.value.expose(), "b");
    }

    #[tokio::test(start_paused = true)]
    async fn invalid_token_refreshes_once_for_many() {
        let cache = Arc::new(TokenCache::new("t:c", Duration::from_secs(60)));
        let stale = cache
            .get(|| async { Ok::<_, ()>(tok("old", 900)) })
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let cache = cache.clone();
            let stale = stale.value.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .refresh_if_current(&stale, || async { Ok::<_, ()>(tok("new", 900)) })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().value.expose(), "new");
        }
        assert_eq!(cache.fetch_count(), 2, "the first token and one refresh");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_fetch_fails_every_waiter_of_its_generation_at_once() {
        let cache = Arc::new(TokenCache::new("t:c", Duration::from_secs(60)));
        let gate = Arc::new(tokio::sync::Notify::new());
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = cache.clone();
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| async move {
                        // The token endpoint hangs for 10 s, then fails.
                        gate.notified().await;
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        Err::<AccessToken, _>("token endpoint down")
                    })
                    .await
            }));
        }
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err(), "token endpoint down");
        }
        assert_eq!(cache.fetch_count(), 1, "the waiters shared the one failure");
        assert!(
            started.elapsed() < Duration::from_secs(11),
            "not 20 fetches in series: {:?}",
            started.elapsed()
        );
        // A caller arriving after the failure is not one of its waiters: it fetches.
        let t = cache
            .get(|| async { Ok::<_, &str>(tok("ok", 900)) })
            .await
            .unwrap();
        assert_eq!(t.value.expose(), "ok");
        assert_eq!(cache.fetch_count(), 2);
    }

    #[tokio::test]
    async fn provider_errors_are_shared_exactly() {
        let e = ProviderError::Call {
            operation: "access token",
            outcome: crate::providers::Outcome::Retryable {
                delay_hint: None,
                reason: "down".into(),
            },
            response_code: Some("5007300".into()),
        };
        assert_eq!(format!("{:?}", e.share()), format!("{e:?}"));
    }

    #[tokio::test]
    async fn failed_fetch_is_not_cached() {
        let cache = TokenCache::new("t:c", Duration::from_secs(60));
        assert!(cache
            .get(|| async { Err::<AccessToken, _>("down") })
            .await
            .is_err());
        let t = cache
            .get(|| async { Ok::<_, &str>(tok("ok", 900)) })
            .await
            .unwrap();
        assert_eq!(t.value.expose(), "ok");
    }

    #[test]
    fn masking() {
        assert_eq!(mask("short"), "**** (5 chars)");
        let m = mask("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.abcd");
        assert!(m.starts_with("eyJh…abcd"), "{m}");
        assert!(!m.contains("bGci"));
    }
}
