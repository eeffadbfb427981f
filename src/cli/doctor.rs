//! `kirim provider NAME doctor`: is this provider reachable, and does it accept
//! our credentials and signatures? For an operator pointing kirim at a real
//! staging environment. Each step says what it did and what the provider
//! answered (code and message, never a secret); the first refusal comes with the
//! settings to try, read from the provider's own section.
//!
//! Steps: build the client from `[providers.NAME]`; fetch an access token; read
//! the merchant profile or the balance; one signed no-op (a status inquiry of a
//! reference that does not exist: "not found" means the token and the signature
//! were accepted). Nothing here can move money.

use serde::Serialize;

use crate::config::{ProviderSection, Settings};
use crate::domain::{Money, Outcome, PartnerReference, Provider};
use crate::providers::snap::client::fresh_external_id;
use crate::providers::{PayoutProvider, ProviderError, Registry, StatusQuery};

/// One step's verdict.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    /// The provider has no such call.
    Skipped,
    /// Not reachable, or no usable answer.
    Failed,
    /// The provider answered and refused (credentials, signature, route).
    Refused,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub verdict: Verdict,
    /// What happened, with the provider's code and message when it answered.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub provider: Provider,
    pub healthy: bool,
    pub steps: Vec<Step>,
    /// For the first failed or refused step: which settings to try.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
}

fn error_step(step: &'static str, e: &ProviderError) -> Step {
    let verdict = match e {
        ProviderError::Unsupported { .. } => Verdict::Skipped,
        ProviderError::Call {
            outcome: Outcome::Refused { .. } | Outcome::FinalFailure { .. },
            ..
        } => Verdict::Refused,
        _ => Verdict::Failed,
    };
    Step {
        step,
        verdict,
        detail: e.to_string(),
    }
}

fn outcome_step(step: &'static str, outcome: &Outcome, code: Option<&str>) -> Step {
    let said = match code {
        Some(c) => format!("provider answered {c}: {outcome}"),
        None => outcome.to_string(),
    };
    let verdict = match outcome {
        // A statement about the (made-up) transaction: the request was accepted.
        Outcome::NotFound
        | Outcome::Success { .. }
        | Outcome::InProgress { .. }
        | Outcome::Cancelled { .. }
        | Outcome::FinalFailure { .. } => Verdict::Ok,
        Outcome::Refused { .. } => Verdict::Refused,
        Outcome::Retryable { .. } | Outcome::Unknown { .. } | Outcome::NeverReached { .. } => {
            Verdict::Failed
        }
    };
    Step {
        step,
        verdict,
        detail: said,
    }
}

/// What to try after `step` went wrong, from the keys the section has.
pub fn diagnose(step: &Step, section: Option<&ProviderSection>) -> String {
    let text = |key: &str| section.and_then(|s| s.text(key)).map(str::to_owned);
    let mut hints: Vec<String> = Vec::new();
    if step.verdict == Verdict::Failed {
        hints.push(format!(
            "check `base_url` ({}) and the network path to it",
            text("base_url").unwrap_or_else(|| "unset".into())
        ));
        return hints.join("; ");
    }
    let token_step = step.step == "token";
    if let Some(sep) = text("token_separator") {
        if token_step {
            let other = if sep == "|" { ":" } else { "|" };
            hints.push(format!(
                "try `token_separator = \"{other}\"` (now \"{sep}\"; the string to sign is clientId{sep}X-TIMESTAMP)"
            ));
        }
    }
    if let Some(mode) = text("endpoint_url_mode") {
        if !token_step {
            let other = if mode == "absolute" {
                "relative"
            } else {
                "absolute"
            };
            hints.push(format!(
                "try `endpoint_url_mode = \"{other}\"` (now \"{mode}\": the signed EndpointUrl is the {} URL)",
                if mode == "absolute" { "full" } else { "path-only" }
            ));
        }
    }
    hints.push(if token_step {
        "check `client_id` and that the provider holds the public key of `private_key_path`".into()
    } else {
        "check `client_secret` (or `client_secret_file`): it keys the request signature".into()
    });
    hints.join("; ")
}

/// Run every step against `name` as configured.
pub async fn run(settings: &Settings, registry: &Registry, name: Provider) -> Report {
    let section = settings.providers.section(name.as_str());
    let mut steps = Vec::new();
    let client = match registry.build_one(&settings.providers, name) {
        Ok(c) => {
            steps.push(Step {
                step: "config",
                verdict: Verdict::Ok,
                detail: format!("[providers.{name}] builds a client"),
            });
            Some(c)
        }
        Err(e) => {
            steps.push(Step {
                step: "config",
                verdict: Verdict::Failed,
                detail: e.to_string(),
            });
            None
        }
    };
    if let Some(client) = client {
        run_calls(client.as_ref(), &mut steps).await;
    }
    let first_bad = steps
        .iter()
        .find(|s| matches!(s.verdict, Verdict::Failed | Verdict::Refused));
    let diagnosis = first_bad.map(|s| {
        if s.step == "config" {
            "fix the key the error names".to_owned()
        } else {
            diagnose(s, section)
        }
    });
    Report {
        provider: name,
        healthy: first_bad.is_none(),
        steps,
        diagnosis,
    }
}

async fn run_calls(client: &dyn PayoutProvider, steps: &mut Vec<Step>) {
    let token = match client.fresh_token().await {
        Ok(t) => Step {
            step: "token",
            verdict: Verdict::Ok,
            detail: format!("token {} for {} s", t.masked(), t.lifetime.as_secs()),
        },
        Err(e) => error_step("token", &e),
    };
    let stop = matches!(token.verdict, Verdict::Failed | Verdict::Refused);
    steps.push(token);
    if stop {
        return;
    }
    let read = match client.merchant_profile().await {
        Ok(_) => Step {
            step: "profile",
            verdict: Verdict::Ok,
            detail: "merchant profile read".into(),
        },
        Err(ProviderError::Unsupported { .. }) => {
            match client.balance(&fresh_external_id()).await {
                Ok(b) => Step {
                    step: "balance",
                    verdict: Verdict::Ok,
                    detail: format!("available {} {}", b.available, b.currency),
                },
                Err(e) => error_step("balance", &e),
            }
        }
        Err(e) => error_step("profile", &e),
    };
    let stop = matches!(read.verdict, Verdict::Failed | Verdict::Refused);
    steps.push(read);
    if stop {
        return;
    }
    let (Ok(reference), Ok(amount)) = (
        PartnerReference::parse(&format!("KIRIM-DOCTOR-{}", chrono::Utc::now().timestamp())),
        Money::parse("10000.00", "amount"),
    ) else {
        return;
    };
    let query = StatusQuery {
        partner_reference: reference,
        provider_reference: None,
        amount,
        beneficiary_account_no: None,
        transaction_date: crate::snap::timestamp::now(),
        external_id: fresh_external_id(),
    };
    steps.push(match client.transfer_status(&query).await {
        Ok(ex) => outcome_step("signed_inquiry", &ex.outcome, ex.response_code.as_deref()),
        Err(e) => error_step("signed_inquiry", &e),
    });
}
