//! Access-token cache, one per provider and credential.
//!
//! Providers rate-limit their token endpoints and NOTES.md says it plainly: never
//! fetch a token per request. The cache holds one token, hands it out until
//! `refresh_margin` before it expires, and refreshes it under a `tokio::sync::Mutex`
//! held across the fetch: concurrent callers queue behind the one refreshing and
//! then all use its result (single flight, no stampede).
//!
//! An invalid-token answer (SNAP `401xx01`/`401xx03`, Singapay `SP013`) calls
//! [`TokenCache::refresh_if_current`] with the token that was rejected: only the
//! first of many callers rejected with the same token fetches a new one; the others
//! find it already replaced and reuse the new one.
//!
//! The clock is `tokio::time::Instant` so tests can drive expiry with paused time.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::Secret;

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

/// One provider credential's token.
#[derive(Debug)]
pub struct TokenCache {
    /// `provider:client_id`, for logs.
    key: String,
    margin: Duration,
    slot: Mutex<Option<AccessToken>>,
    fetches: AtomicU64,
}

impl TokenCache {
    pub fn new(key: impl Into<String>, margin: Duration) -> Self {
        TokenCache {
            key: key.into(),
            margin,
            slot: Mutex::new(None),
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
        *self.slot.lock().await = None;
    }

    /// Whether `token` may still be used. The margin is capped at half the lifetime:
    /// a provider that issues short tokens (shorter than the margin) would otherwise
    /// make every call fetch a token.
    fn usable(&self, token: &AccessToken) -> bool {
        let margin = self.margin.min(token.lifetime / 2);
        token.remaining() > margin
    }

    /// The cached token, or a new one from `fetch` if there is none or it is near
    /// expiry. Callers arriving during a fetch wait for it.
    pub async fn get<F, Fut, E>(&self, fetch: F) -> Result<AccessToken, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(t) = slot.as_ref() {
            if self.usable(t) {
                return Ok(t.clone());
            }
        }
        self.fetch_into(&mut slot, fetch).await
    }

    /// The provider rejected `stale` as invalid: fetch a new token unless another
    /// caller already replaced it.
    pub async fn refresh_if_current<F, Fut, E>(
        &self,
        stale: &Secret,
        fetch: F,
    ) -> Result<AccessToken, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(t) = slot.as_ref() {
            if t.value != *stale && self.usable(t) {
                return Ok(t.clone());
            }
        }
        self.fetch_into(&mut slot, fetch).await
    }

    async fn fetch_into<F, Fut, E>(
        &self,
        slot: &mut Option<AccessToken>,
        fetch: F,
    ) -> Result<AccessToken, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, E>>,
    {
        // Drop the old token first: if the fetch fails, nobody should keep using a
        // token we already decided to replace.
        *slot = None;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let token = fetch().await?;
        tracing::debug!(key = %self.key, lifetime_secs = token.lifetime.as_secs(), "access token refreshed");
        *slot = Some(token.clone());
        Ok(token)
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
