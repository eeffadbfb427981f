//! The demo's batch: which payouts it sends and the state each must end in.

use crate::domain::{Provider, State};
use crate::sandbox::magic;

/// What one demo payout is.
#[derive(Debug, Clone)]
pub(super) enum What {
    Transfer {
        account: &'static str,
        bank: &'static str,
        name: &'static str,
    },
    /// iFortepay direct debit (no OTP).
    Payment,
}

/// A sandbox fault that makes this payout's first request go wrong.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fault {
    pub(super) endpoint: &'static str,
    pub(super) kind: &'static str,
}

/// One payout of the batch, with the state it must end in.
#[derive(Debug, Clone)]
pub(super) struct Case {
    pub(super) reference: String,
    pub(super) provider: Provider,
    pub(super) amount: &'static str,
    pub(super) what: What,
    pub(super) expected: State,
    pub(super) fault: Option<Fault>,
    pub(super) story: &'static str,
}

const BENEFICIARIES: [(&str, &str, &str); 6] = [
    ("8753293240", "014", "Budi Santoso"),
    ("1234567890", "008", "Siti Rahmawati"),
    ("0987654321", "009", "Agus Wijaya"),
    ("5550001112", "002", "Dewi Lestari"),
    ("7001234567", "014", "Rina Kusuma"),
    ("3141592653", "451", "Hendra Gunawan"),
];

const AMOUNTS: [&str; 6] = [
    "150000.00",
    "2750000.00",
    "48500.50",
    "1000000.00",
    "325000.00",
    "12500000.00",
];

fn short(p: Provider) -> &'static str {
    match p {
        crate::providers::ifortepay::ID => "IFP",
        crate::providers::nicepay::ID => "NCP",
        crate::providers::singapay::ID => "SGP",
        other => other.as_str(),
    }
}

/// The batch: per provider some successes, a cancellation and a refusal, plus one
/// payout per provider whose outcome a fault makes unknown.
pub(super) fn batch(quick: bool) -> Vec<Case> {
    let mut cases = Vec::new();
    let successes = if quick { 1 } else { 4 };
    for (pi, p) in crate::providers::builtin_ids().into_iter().enumerate() {
        let mut n = 0;
        let mut next_ref = || {
            n += 1;
            format!("DEMO-{}-{n:03}", short(p))
        };
        // The faulted payout first: its endpoint's next request is the one that fails.
        let fault = match p {
            crate::providers::ifortepay::ID => (
                Fault {
                    endpoint: "ifortepay.transfer",
                    kind: "error_500_after",
                },
                "HTTP 500 after booking; inquired",
            ),
            crate::providers::nicepay::ID => (
                Fault {
                    endpoint: "nicepay.approve",
                    kind: "close_after",
                },
                "connection dropped after booking; inquired",
            ),
            crate::providers::singapay::ID => (
                Fault {
                    endpoint: "singapay.transfer_v2",
                    kind: "hang",
                },
                "timed out; not found; resubmitted",
            ),
            // The demo's scenario covers the built-in providers only.
            _ => continue,
        };
        if !quick || p == crate::providers::ifortepay::ID || p == crate::providers::singapay::ID {
            let (acc, bank, name) = BENEFICIARIES[pi];
            cases.push(Case {
                reference: next_ref(),
                provider: p,
                amount: "500000.00",
                what: What::Transfer {
                    account: acc,
                    bank,
                    name,
                },
                expected: State::Succeeded,
                fault: Some(fault.0),
                story: fault.1,
            });
        }
        for i in 0..successes {
            let (acc, bank, name) = BENEFICIARIES[(pi + i + 1) % BENEFICIARIES.len()];
            cases.push(Case {
                reference: next_ref(),
                provider: p,
                amount: AMOUNTS[(pi * 2 + i) % AMOUNTS.len()],
                what: What::Transfer {
                    account: acc,
                    bank,
                    name,
                },
                expected: State::Succeeded,
                fault: None,
                story: "paid",
            });
        }
        if !quick || p == crate::providers::ifortepay::ID {
            // NICEPAY reports a cancelled (refunded) transfer as 09 "Failed".
            let (expected, story) = match p {
                crate::providers::nicepay::ID => (State::Failed, "cancelled (NICEPAY reports 09)"),
                _ => (State::Cancelled, "cancelled by the provider"),
            };
            cases.push(Case {
                reference: next_ref(),
                provider: p,
                amount: "75000.00",
                what: What::Transfer {
                    account: magic::ALWAYS_CANCEL,
                    bank: "014",
                    name: "Joko Susilo",
                },
                expected,
                fault: None,
                story,
            });
        }
        if !quick || p == crate::providers::nicepay::ID {
            cases.push(Case {
                reference: next_ref(),
                provider: p,
                amount: "99000.00",
                what: What::Transfer {
                    account: magic::INVALID_ACCOUNT,
                    bank: "014",
                    name: "Nama Salah",
                },
                expected: State::Failed,
                fault: None,
                story: "invalid account",
            });
        }
        if !quick && p == crate::providers::singapay::ID {
            cases.push(Case {
                reference: next_ref(),
                provider: p,
                amount: "4200000.00",
                what: What::Transfer {
                    account: magic::INSUFFICIENT_FUNDS,
                    bank: "009",
                    name: "Wahyu Pratama",
                },
                expected: State::Failed,
                fault: None,
                story: "insufficient funds",
            });
        }
        if !quick && p == crate::providers::ifortepay::ID {
            cases.push(Case {
                reference: "DEMO-DD-001".into(),
                provider: p,
                amount: "250000.00",
                what: What::Payment,
                expected: State::Succeeded,
                fault: None,
                story: "direct debit (no OTP)",
            });
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_provider_and_outcome() {
        for quick in [false, true] {
            let b = batch(quick);
            for p in crate::providers::builtin_ids() {
                assert!(b.iter().any(|c| c.provider == p), "{p} in batch");
            }
            for s in [State::Succeeded, State::Cancelled, State::Failed] {
                assert!(
                    b.iter().any(|c| c.expected == s),
                    "{s:?} expected somewhere"
                );
            }
            assert!(b.iter().any(|c| c.fault.is_some()));
            let mut refs: Vec<_> = b
                .iter()
                .map(|c| (c.provider, c.reference.clone()))
                .collect();
            refs.sort();
            refs.dedup();
            assert_eq!(refs.len(), b.len(), "references are unique");
            // One fault per endpoint, or a fault could hit the wrong payout.
            let mut eps: Vec<_> = b
                .iter()
                .filter_map(|c| c.fault)
                .map(|f| f.endpoint)
                .collect();
            let n = eps.len();
            eps.sort();
            eps.dedup();
            assert_eq!(eps.len(), n);
        }
        assert!(batch(false).len() >= 20, "the default batch is realistic");
    }
}
