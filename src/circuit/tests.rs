//! Unit tests of the breaker state machine, its published form and the probe
//! mapping.

use super::probe::{error_signal, outcome_signal, PROBE_REFERENCE};
use super::*;
use crate::domain::{ExternalId, PartnerReference};
use crate::providers::{Outcome, PayoutProvider, ProviderError, StatusQuery};

const P: Provider = crate::providers::ifortepay::ID;

fn cfg() -> BreakerConfig {
    BreakerConfig {
        failures_to_open: 3,
        cooldown_initial_ms: 5_000,
        cooldown_max_ms: 12_000,
        probe_timeout_ms: 1_000,
    }
}

fn open_at(b: &Breakers, now: i64) -> Transition {
    for _ in 1..b.config().failures_to_open {
        assert_eq!(b.record(P, Signal::ConnectFailure, now), None);
    }
    b.record(P, Signal::ConnectFailure, now).expect("opens")
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = BreakerConfig::default();
    assert_eq!(c.failures_to_open, 5);
    assert_eq!(c.cooldown_initial_ms, 5_000);
    assert_eq!(c.cooldown_max_ms, 60_000);
}

#[test]
fn opens_at_the_threshold_not_before() {
    let b = Breakers::new(cfg());
    assert_eq!(b.record(P, Signal::ConnectFailure, 0), None);
    assert_eq!(b.record(P, Signal::Refused, 1), None);
    assert_eq!(b.state(P), BreakerState::Closed);
    assert_eq!(b.permit(P, 2), Permit::Allow);
    let t = b
        .record(P, Signal::Refused, 3)
        .expect("third failure opens");
    assert_eq!(t.from, BreakerState::Closed);
    assert_eq!(
        t.to,
        BreakerState::Open {
            since: 3,
            until: 5_003,
            reason: Reason::Refused
        }
    );
    assert_eq!(t.provider, P);
    assert_eq!(b.state(P), t.to);
    assert_eq!(b.consecutive_failures(P), 3);
}

#[test]
fn ok_while_closed_resets_the_count() {
    let b = Breakers::new(cfg());
    b.record(P, Signal::ConnectFailure, 0);
    b.record(P, Signal::ConnectFailure, 0);
    assert_eq!(b.record(P, Signal::Ok, 0), None);
    assert_eq!(b.consecutive_failures(P), 0);
    b.record(P, Signal::ConnectFailure, 0);
    b.record(P, Signal::ConnectFailure, 0);
    assert_eq!(b.state(P), BreakerState::Closed);
    assert!(b.record(P, Signal::ConnectFailure, 0).is_some());
}

#[test]
fn providers_are_independent() {
    let b = Breakers::new(cfg());
    open_at(&b, 0);
    assert_eq!(b.permit(crate::providers::nicepay::ID, 1), Permit::Allow);
    assert_eq!(
        b.state(crate::providers::singapay::ID),
        BreakerState::Closed
    );
}

#[test]
fn paused_until_the_cool_down_ends() {
    let b = Breakers::new(cfg());
    open_at(&b, 100);
    for now in [100, 2_000, 5_099] {
        assert_eq!(b.permit(P, now), Permit::Paused { retry_at_ms: 5_100 });
    }
    assert_eq!(b.permit(P, 5_100), Permit::Probe);
}

/// Regression (60-s outage test): with the default 30-s probe timeout, the
/// payouts paused behind a probe slept the whole 30 s although the probe
/// answered at once.
#[test]
fn behind_a_probe_callers_look_again_within_a_second() {
    let b = Breakers::new(BreakerConfig {
        probe_timeout_ms: 30_000,
        ..cfg()
    });
    open_at(&b, 0);
    assert_eq!(b.acquire(P, 5_000).0, Permit::Probe);
    assert_eq!(
        b.permit(P, 5_001),
        Permit::Paused {
            retry_at_ms: 5_001 + PROBE_RECHECK_MS
        }
    );
    b.record(P, Signal::Ok, 5_050);
    assert_eq!(b.permit(P, 5_001 + PROBE_RECHECK_MS), Permit::Allow);
}

#[test]
fn exactly_one_probe_then_paused_until_it_answers_or_times_out() {
    let b = Breakers::new(cfg());
    let opened = open_at(&b, 0);
    let (permit, t) = b.acquire(P, 5_000);
    assert_eq!(permit, Permit::Probe);
    let t = t.expect("open → half-open is a transition");
    assert_eq!((t.from, t.to), (opened.to, BreakerState::HalfOpen));
    // Everyone else waits for the probe (or its timeout).
    assert_eq!(
        b.acquire(P, 5_001),
        (Permit::Paused { retry_at_ms: 6_000 }, None)
    );
    assert_eq!(b.permit(P, 5_999), Permit::Paused { retry_at_ms: 6_000 });
    // The prober died: after probe_timeout_ms one new caller gets a probe.
    assert_eq!(b.acquire(P, 6_000), (Permit::Probe, None));
    assert_eq!(b.permit(P, 6_001), Permit::Paused { retry_at_ms: 7_000 });
}

#[test]
fn probe_ok_closes_and_resets() {
    let b = Breakers::new(cfg());
    open_at(&b, 0);
    assert_eq!(b.permit(P, 5_000), Permit::Probe);
    let t = b.record(P, Signal::Ok, 5_100).expect("closes");
    assert_eq!(
        (t.from, t.to),
        (BreakerState::HalfOpen, BreakerState::Closed)
    );
    assert_eq!(b.permit(P, 5_101), Permit::Allow);
    assert_eq!(b.consecutive_failures(P), 0);
    // The cool-down starts again from the initial value after a close.
    let t = open_at(&b, 10_000);
    assert_eq!(
        t.to,
        BreakerState::Open {
            since: 10_000,
            until: 15_000,
            reason: Reason::ConnectFailure
        }
    );
}

#[test]
fn probe_failure_reopens_with_doubled_cool_down_capped() {
    let b = Breakers::new(cfg());
    open_at(&b, 0);
    let mut now = 5_000;
    // 5 s → 10 s → 12 s (cap) → 12 s.
    for (cooldown, reason, signal) in [
        (10_000, Reason::ConnectFailure, Signal::ConnectFailure),
        (12_000, Reason::Refused, Signal::Refused),
        (12_000, Reason::ConnectFailure, Signal::ConnectFailure),
    ] {
        assert_eq!(b.permit(P, now), Permit::Probe);
        let t = b.record(P, signal, now + 10).expect("re-opens");
        assert_eq!(t.from, BreakerState::HalfOpen);
        assert_eq!(
            t.to,
            BreakerState::Open {
                since: now + 10,
                until: now + 10 + cooldown,
                reason
            }
        );
        assert_eq!(
            b.permit(P, now + 11),
            Permit::Paused {
                retry_at_ms: now + 10 + cooldown
            }
        );
        now += 10 + cooldown;
    }
}

#[test]
fn signals_while_open_are_ignored() {
    let b = Breakers::new(cfg());
    let opened = open_at(&b, 0);
    assert_eq!(b.record(P, Signal::Ok, 1), None);
    assert_eq!(b.record(P, Signal::ConnectFailure, 2), None);
    assert_eq!(b.state(P), opened.to);
    assert_eq!(b.permit(P, 3), Permit::Paused { retry_at_ms: 5_000 });
}

#[test]
fn zero_threshold_means_one() {
    let b = Breakers::new(BreakerConfig {
        failures_to_open: 0,
        ..cfg()
    });
    assert!(b.record(P, Signal::Refused, 0).is_some());
}

#[test]
fn clones_share_state() {
    let b = Breakers::new(cfg());
    let c = b.clone();
    open_at(&b, 0);
    assert_eq!(c.permit(P, 1), Permit::Paused { retry_at_ms: 5_000 });
}

#[test]
fn snapshot_carries_what_is_published() {
    let b = Breakers::new(cfg());
    open_at(&b, 7);
    let s = b.snapshot(P);
    assert_eq!(s.state, CircuitState::Open);
    assert_eq!((s.since_ms, s.until_ms), (7, Some(5_007)));
    assert_eq!(s.reason, Some(Reason::ConnectFailure));
    assert_eq!(s.consecutive_failures, 3);
    assert_eq!(s.updated_at_ms, 7);
    assert_eq!(CircuitState::Open.gauge(), 2);
    assert_eq!(CircuitState::HalfOpen.gauge(), 1);
    assert_eq!(CircuitState::Closed.gauge(), 0);
    for k in [
        CircuitState::Closed,
        CircuitState::HalfOpen,
        CircuitState::Open,
    ] {
        assert_eq!(k.as_str().parse::<CircuitState>(), Ok(k));
    }
}

/// A provider with neither a balance call nor a status inquiry (Singapay v1).
struct Mute;

#[async_trait::async_trait]
impl PayoutProvider for Mute {
    fn provider(&self) -> Provider {
        crate::providers::singapay::ID
    }
    async fn transfer(
        &self,
        _: &crate::providers::TransferRequest,
    ) -> Result<crate::providers::Exchange, ProviderError> {
        Err(ProviderError::Config("not used".into()))
    }
    async fn transfer_status(
        &self,
        _: &StatusQuery,
    ) -> Result<crate::providers::Exchange, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: crate::providers::singapay::ID,
            operation: "transfer status",
        })
    }
    async fn account_inquiry(
        &self,
        _: &crate::providers::AccountInquiryRequest,
    ) -> Result<crate::providers::AccountInfo, ProviderError> {
        Err(ProviderError::Config("not used".into()))
    }
    async fn balance(&self, _: &ExternalId) -> Result<crate::providers::Balance, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: crate::providers::singapay::ID,
            operation: "balance inquiry",
        })
    }
}

#[tokio::test]
async fn a_provider_that_cannot_be_probed_lets_real_traffic_decide() {
    let id = ExternalId::parse("1").unwrap();
    assert_eq!(probe(&Mute, &id).await, Signal::Ok);
}

/// Singapay v1.0 as configured: no balance, no status inquiry, but a token call.
struct TokenOnly(Result<(), Outcome>);

#[async_trait::async_trait]
impl PayoutProvider for TokenOnly {
    fn provider(&self) -> Provider {
        crate::providers::singapay::ID
    }
    async fn transfer(
        &self,
        r: &crate::providers::TransferRequest,
    ) -> Result<crate::providers::Exchange, ProviderError> {
        Mute.transfer(r).await
    }
    async fn transfer_status(
        &self,
        q: &StatusQuery,
    ) -> Result<crate::providers::Exchange, ProviderError> {
        Mute.transfer_status(q).await
    }
    async fn account_inquiry(
        &self,
        r: &crate::providers::AccountInquiryRequest,
    ) -> Result<crate::providers::AccountInfo, ProviderError> {
        Mute.account_inquiry(r).await
    }
    async fn balance(&self, id: &ExternalId) -> Result<crate::providers::Balance, ProviderError> {
        Mute.balance(id).await
    }
    async fn fresh_token(&self) -> Result<crate::providers::token::AccessToken, ProviderError> {
        match &self.0 {
            Ok(()) => Ok(crate::providers::token::AccessToken::new(
                crate::domain::Secret::new("t".to_owned()),
                std::time::Duration::from_secs(60),
            )),
            Err(outcome) => Err(ProviderError::Call {
                operation: "token",
                outcome: outcome.clone(),
                response_code: None,
            }),
        }
    }
}

/// Without a status inquiry the token call decides: a provider that is down keeps
/// its breaker open instead of closing it at every cool-down.
#[tokio::test]
async fn a_provider_with_only_a_token_call_is_probed_with_it() {
    let id = ExternalId::parse("1").unwrap();
    assert_eq!(probe(&TokenOnly(Ok(())), &id).await, Signal::Ok);
    let down = TokenOnly(Err(Outcome::Retryable {
        delay_hint: None,
        reason: "connection refused".into(),
    }));
    assert_eq!(probe(&down, &id).await, Signal::ConnectFailure);
    let refused = TokenOnly(Err(Outcome::Refused {
        code: "SP016".into(),
        message: "Invalid signature".into(),
    }));
    assert_eq!(probe(&refused, &id).await, Signal::Refused);
}

#[test]
fn outcome_mapping() {
    let refused = Outcome::Refused {
        code: "4010000".into(),
        message: "unauthorized".into(),
    };
    let call = |outcome| ProviderError::Call {
        operation: "balance",
        outcome,
        response_code: None,
    };
    assert_eq!(
        error_signal(&call(Outcome::Retryable {
            delay_hint: None,
            reason: "connect".into()
        })),
        Signal::ConnectFailure
    );
    assert_eq!(
        error_signal(&call(Outcome::Unknown {
            reason: "timeout".into()
        })),
        Signal::ConnectFailure
    );
    assert_eq!(error_signal(&call(refused.clone())), Signal::Refused);
    assert_eq!(
        error_signal(&call(Outcome::FinalFailure {
            code: "4031800".into(),
            message: "x".into()
        })),
        Signal::Refused
    );
    assert_eq!(
        error_signal(&ProviderError::Config("key".into())),
        Signal::Refused
    );
    // An inquiry that names the transaction means the provider answered.
    assert_eq!(outcome_signal(&Outcome::NotFound, Signal::Ok), Signal::Ok);
    assert_eq!(outcome_signal(&refused, Signal::Ok), Signal::Refused);
    assert!(PartnerReference::parse(PROBE_REFERENCE).is_ok());
}
