//! Fault injection: which endpoint misbehaves, how, and how often.
//!
//! A [`FaultRule`] names an endpoint (see [`Endpoint::name`]; `*` or `ifortepay.*`
//! match several), a [`FaultKind`] and a trigger: always, the next `times` requests,
//! or each request with `probability`, drawn from a RNG seeded with the config's
//! `seed` (one RNG per registry, so a run with the same request order replays).
//!
//! Rules come from `[[faults]]` in the config at start and from `PUT /admin/faults`
//! at runtime. The first matching rule whose trigger fires wins. The registry lock is
//! held only to pick a rule, never across an await.
//!
//! # `respond`: a canned answer
//! [`FaultKind::Respond`] answers `status` with the given `body` (raw text, sent
//! byte for byte), `content_type` and `headers` *before* anything is processed:
//! no token check, no signature check, nothing booked. It stands in for answers the
//! provider documents but the sandbox never produces on its own (a `4011300`
//! "Unauthorized. Signature" on a history detail) and for answers from things in
//! front of the provider (an HTML page from a WAF or a load balancer):
//!
//! ```toml
//! [[faults]]
//! endpoint = "ifortepay.history_detail"
//! kind = "respond"
//! status = 401
//! body = '{"responseCode":"4011300","responseMessage":"Unauthorized. Signature"}'
//! times = 1
//!
//! [[faults]]
//! endpoint = "ifortepay.*"
//! kind = "respond"
//! status = 403
//! content_type = "text/html"
//! headers = { "Retry-After" = "30" }
//! body = "<html><body><h1>403 Forbidden</h1></body></html>"
//! probability = 0.1
//! ```
//!
//! Without `content_type` the answer is `application/json` when `body` parses as
//! JSON and `text/plain; charset=utf-8` otherwise. With `latency_ms` the answer
//! waits that long first. `status`, `body`, `content_type` and `headers` are refused
//! on every other kind.
//!
//! Refusing connections altogether (the provider is down) is not a rule, since no
//! request arrives: see `SandboxHandle::set_refusing`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::domain::Provider;

/// Every endpoint the sandbox serves, so faults and errors know their provider and
/// SNAP service code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    IfortepayToken,
    IfortepayAccountInquiry,
    IfortepayBalance,
    IfortepayTransfer,
    IfortepayHistoryList,
    IfortepayHistoryDetail,
    IfortepayProfile,
    IfortepayDebitPayment,
    IfortepayDebitStatus,
    NicepayToken,
    NicepayRegistration,
    NicepayApprove,
    NicepayInquiry,
    NicepayCancel,
    NicepayReject,
    NicepayBalance,
    SingapayToken,
    SingapayTransferV1,
    SingapayTransferV2,
    SingapayInquiryStatus,
    CallbackIfortepay,
    CallbackNicepay,
    CallbackSingapay,
}

impl Endpoint {
    pub const ALL: [Endpoint; 23] = [
        Endpoint::IfortepayToken,
        Endpoint::IfortepayAccountInquiry,
        Endpoint::IfortepayBalance,
        Endpoint::IfortepayTransfer,
        Endpoint::IfortepayHistoryList,
        Endpoint::IfortepayHistoryDetail,
        Endpoint::IfortepayProfile,
        Endpoint::IfortepayDebitPayment,
        Endpoint::IfortepayDebitStatus,
        Endpoint::NicepayToken,
        Endpoint::NicepayRegistration,
        Endpoint::NicepayApprove,
        Endpoint::NicepayInquiry,
        Endpoint::NicepayCancel,
        Endpoint::NicepayReject,
        Endpoint::NicepayBalance,
        Endpoint::SingapayToken,
        Endpoint::SingapayTransferV1,
        Endpoint::SingapayTransferV2,
        Endpoint::SingapayInquiryStatus,
        Endpoint::CallbackIfortepay,
        Endpoint::CallbackNicepay,
        Endpoint::CallbackSingapay,
    ];

    /// The name used in fault rules and logs.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::IfortepayToken => "ifortepay.token",
            Endpoint::IfortepayAccountInquiry => "ifortepay.account_inquiry",
            Endpoint::IfortepayBalance => "ifortepay.balance",
            Endpoint::IfortepayTransfer => "ifortepay.transfer",
            Endpoint::IfortepayHistoryList => "ifortepay.history_list",
            Endpoint::IfortepayHistoryDetail => "ifortepay.history_detail",
            Endpoint::IfortepayProfile => "ifortepay.profile",
            Endpoint::IfortepayDebitPayment => "ifortepay.debit_payment",
            Endpoint::IfortepayDebitStatus => "ifortepay.debit_status",
            Endpoint::NicepayToken => "nicepay.token",
            Endpoint::NicepayRegistration => "nicepay.registration",
            Endpoint::NicepayApprove => "nicepay.approve",
            Endpoint::NicepayInquiry => "nicepay.inquiry",
            Endpoint::NicepayCancel => "nicepay.cancel",
            Endpoint::NicepayReject => "nicepay.reject",
            Endpoint::NicepayBalance => "nicepay.balance",
            Endpoint::SingapayToken => "singapay.token",
            Endpoint::SingapayTransferV1 => "singapay.transfer_v1",
            Endpoint::SingapayTransferV2 => "singapay.transfer_v2",
            Endpoint::SingapayInquiryStatus => "singapay.inquiry_status",
            Endpoint::CallbackIfortepay => "callbacks.ifortepay",
            Endpoint::CallbackNicepay => "callbacks.nicepay",
            Endpoint::CallbackSingapay => "callbacks.singapay",
        }
    }

    pub fn provider(self) -> Provider {
        match self {
            Endpoint::IfortepayToken
            | Endpoint::IfortepayAccountInquiry
            | Endpoint::IfortepayBalance
            | Endpoint::IfortepayTransfer
            | Endpoint::IfortepayHistoryList
            | Endpoint::IfortepayHistoryDetail
            | Endpoint::IfortepayProfile
            | Endpoint::IfortepayDebitPayment
            | Endpoint::IfortepayDebitStatus
            | Endpoint::CallbackIfortepay => crate::providers::ifortepay::ID,
            Endpoint::NicepayToken
            | Endpoint::NicepayRegistration
            | Endpoint::NicepayApprove
            | Endpoint::NicepayInquiry
            | Endpoint::NicepayCancel
            | Endpoint::NicepayReject
            | Endpoint::NicepayBalance
            | Endpoint::CallbackNicepay => crate::providers::nicepay::ID,
            Endpoint::SingapayToken
            | Endpoint::SingapayTransferV1
            | Endpoint::SingapayTransferV2
            | Endpoint::SingapayInquiryStatus
            | Endpoint::CallbackSingapay => crate::providers::singapay::ID,
        }
    }

    /// SNAP service code of the endpoint's response codes (Singapay: unused).
    ///
    /// NICEPAY payout endpoints answer with service `00` (`2000000`) as NICEPAY's
    /// SDK examples show; the profile has no documented code and uses `00` too.
    pub fn service(self) -> u8 {
        match self {
            Endpoint::IfortepayToken | Endpoint::NicepayToken | Endpoint::SingapayToken => 73,
            Endpoint::IfortepayAccountInquiry => 16,
            Endpoint::IfortepayBalance | Endpoint::NicepayBalance => 11,
            Endpoint::IfortepayTransfer => 18,
            Endpoint::IfortepayHistoryList => 12,
            Endpoint::IfortepayHistoryDetail => 13,
            Endpoint::IfortepayDebitPayment => 54,
            Endpoint::IfortepayDebitStatus => 55,
            Endpoint::IfortepayProfile
            | Endpoint::NicepayRegistration
            | Endpoint::NicepayApprove
            | Endpoint::NicepayInquiry
            | Endpoint::NicepayCancel
            | Endpoint::NicepayReject
            | Endpoint::SingapayTransferV1
            | Endpoint::SingapayTransferV2
            | Endpoint::SingapayInquiryStatus => 0,
            Endpoint::CallbackIfortepay => 18,
            Endpoint::CallbackNicepay => 0,
            Endpoint::CallbackSingapay => 0,
        }
    }

    pub fn is_callback(self) -> bool {
        matches!(
            self,
            Endpoint::CallbackIfortepay | Endpoint::CallbackNicepay | Endpoint::CallbackSingapay
        )
    }

    fn matches(self, pattern: &str) -> bool {
        let name = self.name();
        pattern == name
            || (pattern == "*" && !self.is_callback())
            || pattern
                .strip_suffix(".*")
                .is_some_and(|p| name.split('.').next() == Some(p))
    }
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer normally after `latency_ms`.
    Latency,
    /// Never answer (until the client gives up, or `hang_max_ms` → 504).
    Hang,
    /// HTTP 500 before anything is processed: nothing booked.
    #[serde(rename = "error_500_before")]
    Error500Before,
    /// Process (book) normally, then answer HTTP 500 instead of the real answer.
    #[serde(rename = "error_500_after")]
    Error500After,
    /// Process (book) normally, then drop the TCP connection without answering.
    CloseAfter,
    /// HTTP 429 before anything is processed.
    TooManyRequests,
    /// Process normally, then answer 200 with a truncated JSON body.
    MalformedJson,
    /// Callbacks: send with a corrupted signature.
    BadSignature,
    /// Callbacks: send the same notification twice.
    Duplicate,
    /// Callbacks: after the final status, send a stale earlier status (INIT/pending).
    OutOfOrder,
    /// Answer `status` with `body`, `content_type` and `headers` before anything is
    /// processed: nothing booked.
    Respond,
}

impl FaultKind {
    pub fn is_callback_kind(self) -> bool {
        matches!(
            self,
            FaultKind::BadSignature | FaultKind::Duplicate | FaultKind::OutOfOrder
        )
    }
}

/// One fault rule, as written in `[[faults]]` or sent to `PUT /admin/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Endpoint name (`ifortepay.transfer`), `ifortepay.*`, or `*` (every HTTP endpoint).
    pub endpoint: String,
    pub kind: FaultKind,
    /// For `latency`: the delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Fire for the next N matching requests only, then expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Fire with this probability (seeded). Neither `times` nor `probability` = always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// For `respond` (required): the HTTP status to answer, 100–599.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For `respond`: the raw body, sent as is (default empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// For `respond`: the `Content-Type` (default: `application/json` when `body`
    /// parses as JSON, else `text/plain; charset=utf-8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// For `respond`: extra response headers, name → value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

impl FaultRule {
    /// Reject rules that could never fire or mix HTTP and callback kinds.
    pub fn validate(&self) -> Result<(), String> {
        let matched: Vec<Endpoint> = Endpoint::ALL
            .into_iter()
            .filter(|e| e.matches(&self.endpoint))
            .collect();
        if matched.is_empty() {
            return Err(format!(
                "endpoint `{}` is unknown; known: {}",
                self.endpoint,
                Endpoint::ALL.map(|e| e.name()).join(", ")
            ));
        }
        for e in &matched {
            if e.is_callback() != self.kind.is_callback_kind() {
                return Err(format!(
                    "fault `{:?}` does not apply to `{}` (callback faults: bad_signature, duplicate, out_of_order; only on callbacks.*)",
                    self.kind,
                    e.name()
                ));
            }
        }
        if self.kind == FaultKind::Latency && self.latency_ms.is_none() {
            return Err("a latency fault needs latency_ms".into());
        }
        if self.kind == FaultKind::Respond {
            self.canned()?;
        } else if self.status.is_some()
            || self.body.is_some()
            || self.content_type.is_some()
            || self.headers.is_some()
        {
            return Err(format!(
                "status, body, content_type and headers apply to `respond` only, not `{:?}`",
                self.kind
            ));
        }
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err("probability must be between 0.0 and 1.0".into());
            }
        }
        if self.times == Some(0) {
            return Err("times must be at least 1 (omit it for always)".into());
        }
        Ok(())
    }
}

impl FaultRule {
    /// The answer of a `respond` rule, checked (status range, header names and
    /// values, one Content-Type).
    pub fn canned(&self) -> Result<Canned, String> {
        let status = self.status.ok_or("a respond fault needs status")?;
        let status = StatusCode::from_u16(status)
            .map_err(|_| format!("status {status} is not an HTTP status (100–599)"))?;
        let body = self.body.clone().unwrap_or_default();
        let mut headers = HeaderMap::new();
        for (name, value) in self.headers.iter().flatten() {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a header name"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("the value of header `{name}` is not a header value"))?;
            headers.append(name, value);
        }
        match &self.content_type {
            Some(_) if headers.contains_key(header::CONTENT_TYPE) => {
                return Err("Content-Type given twice (content_type and headers)".into());
            }
            Some(ct) => {
                let value = HeaderValue::from_str(ct)
                    .map_err(|_| "content_type is not a header value".to_owned())?;
                headers.insert(header::CONTENT_TYPE, value);
            }
            None if headers.contains_key(header::CONTENT_TYPE) => {}
            None => {
                let ct = if serde_json::from_str::<serde::de::IgnoredAny>(&body).is_ok() {
                    "application/json"
                } else {
                    "text/plain; charset=utf-8"
                };
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            }
        }
        Ok(Canned {
            status,
            headers,
            body,
        })
    }
}

/// The answer of a `respond` fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canned {
    pub status: StatusCode,
    /// Content-Type and the rule's extra headers.
    pub headers: HeaderMap,
    pub body: String,
}

/// A fault drawn for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub latency_ms: u64,
    /// For `respond`: the answer.
    pub canned: Option<Canned>,
}

/// The active rules and the seeded RNG behind probabilistic ones.
pub struct Faults {
    inner: Mutex<FaultsInner>,
}

struct FaultsInner {
    rules: Vec<FaultRule>,
    rng: StdRng,
}

impl Faults {
    pub fn new(rules: Vec<FaultRule>, seed: u64) -> Faults {
        Faults {
            inner: Mutex::new(FaultsInner {
                rules,
                rng: StdRng::seed_from_u64(seed ^ 0xFA17_FA17),
            }),
        }
    }

    /// Pick the fault for one request to `endpoint`, consuming a `times` count.
    pub fn draw(&self, endpoint: Endpoint) -> Option<Fault> {
        let mut inner = lock(&self.inner);
        let FaultsInner { rules, rng } = &mut *inner;
        let mut hit = None;
        for (i, rule) in rules.iter_mut().enumerate() {
            if !endpoint.matches(&rule.endpoint) {
                continue;
            }
            if let Some(p) = rule.probability {
                if !rng.random_bool(p) {
                    continue;
                }
            }
            if let Some(t) = rule.times.as_mut() {
                *t -= 1;
            }
            hit = Some((
                i,
                Fault {
                    kind: rule.kind,
                    latency_ms: rule.latency_ms.unwrap_or(0),
                    // Validated when the rule was added; a rule that somehow fails
                    // answers 500 in the fault layer instead.
                    canned: if rule.kind == FaultKind::Respond {
                        rule.canned().ok()
                    } else {
                        None
                    },
                },
            ));
            break;
        }
        let (i, fault) = hit?;
        if rules[i].times == Some(0) {
            rules.remove(i);
        }
        Some(fault)
    }

    /// Draw every callback fault that fires for one notification (a callback can be
    /// both duplicated and badly signed).
    pub fn draw_all(&self, endpoint: Endpoint) -> Vec<FaultKind> {
        let mut kinds = Vec::new();
        let mut inner = lock(&self.inner);
        let FaultsInner { rules, rng } = &mut *inner;
        for rule in rules.iter_mut() {
            if !endpoint.matches(&rule.endpoint) {
                continue;
            }
            if let Some(p) = rule.probability {
                if !rng.random_bool(p) {
                    continue;
                }
            }
            if let Some(t) = rule.times.as_mut() {
                *t -= 1;
            }
            kinds.push(rule.kind);
        }
        rules.retain(|r| r.times != Some(0));
        kinds
    }

    pub fn list(&self) -> Vec<FaultRule> {
        lock(&self.inner).rules.clone()
    }

    /// Replace every rule (an empty list clears).
    pub fn replace(&self, rules: Vec<FaultRule>) {
        lock(&self.inner).rules = rules;
    }

    pub fn push(&self, rule: FaultRule) {
        lock(&self.inner).rules.push(rule);
    }
}

/// Lock a std mutex, recovering from poisoning: sandbox state stays usable even if a
/// handler panicked while holding a lock (every critical section is a few map
/// operations that leave the data consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
#[path = "faults_tests.rs"]
mod tests;
