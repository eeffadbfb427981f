//! `kirim provider NAME token|profile|balance|account-inquiry|history|transfer-status|health|doctor`:
//! manual checks of one provider's client against the sandbox or a real staging
//! environment, with the same configuration the workers use. `health` shows the
//! provider's circuit breaker as the workers published it (and, with `--probe`,
//! makes the same cheap call the workers probe with).
//!
//! Output is JSON on stdout. Tokens are printed masked with their expiry only;
//! secrets never appear (the clients' `Debug` and errors redact them).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::circuit;
use crate::config::Settings;
use crate::domain::{AccountNumber, BankCode, Money, PartnerReference, Provider};
use crate::ledger::Ledger;
use crate::providers::snap::client::fresh_external_id;
use crate::providers::{
    AccountInquiryRequest, HistoryQuery, PayoutProvider, Registry, StatusQuery,
};

#[derive(Debug, Args)]
pub struct ProviderArgs {
    /// ifortepay, nicepay or singapay.
    pub name: Provider,
    #[command(subcommand)]
    pub command: ProviderCommand,
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Fetch a fresh access token; prints its expiry and a masked token.
    Token,
    /// Merchant profile (iFortepay): businessAccountNumber is the sourceAccountNo.
    Profile,
    /// Balance inquiry.
    Balance,
    /// Beneficiary account inquiry (name check).
    AccountInquiry {
        #[arg(long)]
        bank_code: String,
        #[arg(long)]
        account_no: String,
    },
    /// Transaction history list (iFortepay; at most 3 months).
    History {
        /// RFC 3339, e.g. 2026-01-01T00:00:00+07:00.
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value_t = 1)]
        page: u32,
        #[arg(long, default_value_t = 10)]
        page_size: u32,
    },
    /// Token, profile or balance, and one signed no-op inquiry, with a diagnosis of
    /// the first refusal (which setting to try). Exits 1 unless every step passes.
    Doctor,
    /// Circuit breaker state as published by the workers; `--probe` also calls the provider once.
    Health {
        /// Make one cheap call (balance, or an inquiry where there is none) and report its signal.
        #[arg(long)]
        probe: bool,
    },
    /// Status of one transfer by partnerReferenceNo.
    TransferStatus {
        #[arg(long)]
        reference: String,
        /// The provider's reference (NICEPAY needs the registration's referenceNo).
        #[arg(long)]
        provider_reference: Option<String>,
        /// Beneficiary account (NICEPAY's inquiry names it).
        #[arg(long, default_value = "0")]
        account_no: String,
        #[arg(long, default_value = "0")]
        amount: String,
    },
}

fn build(settings: &Settings, name: Provider) -> anyhow::Result<Arc<dyn PayoutProvider>> {
    Ok(Registry::builtin().build_one(&settings.providers, name)?)
}

pub fn run(args: ProviderArgs, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let settings = super::checked_settings(config.as_deref())?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    if let ProviderCommand::Doctor = args.command {
        let report = runtime.block_on(super::doctor::run(
            &settings,
            &Registry::builtin(),
            args.name,
        ));
        let text = serde_json::to_string_pretty(&report).context("cannot print the report")?;
        println!("{text}");
        return Ok(if report.healthy {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let out = runtime.block_on(execute(&settings, args))?;
    let text = serde_json::to_string_pretty(&out).context("cannot print the answer")?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The published breaker of one provider (closed if never published), and
/// optionally a live probe. Needs Redis, not the provider's credentials, unless
/// `probe` is set.
async fn health(
    settings: &Settings,
    name: Provider,
    probe: bool,
) -> anyhow::Result<serde_json::Value> {
    let ledger = Ledger::connect(&settings.redis).await?;
    let mut conn = ledger.connection();
    let circuit = circuit::read_all(&mut conn, ledger.keys())
        .await?
        .remove(&name)
        .unwrap_or_else(|| circuit::PublishedState::never_published(name));
    let mut out = json!({
        "provider": name,
        "circuit": circuit,
        "summary": circuit.describe(),
    });
    if probe {
        let client = build(settings, name)?;
        let signal = circuit::probe(client.as_ref(), &fresh_external_id()).await;
        out["probe"] = json!(signal.as_str());
    }
    Ok(out)
}

async fn execute(settings: &Settings, args: ProviderArgs) -> anyhow::Result<serde_json::Value> {
    if let ProviderCommand::Health { probe } = args.command {
        return health(settings, args.name, probe).await;
    }
    let api = build(settings, args.name)?;
    Ok(match args.command {
        ProviderCommand::Token => {
            let t = api.fresh_token().await?;
            json!({
                "provider": args.name,
                "token": t.masked(),
                "expires_in_secs": t.lifetime.as_secs(),
            })
        }
        ProviderCommand::Profile => api.merchant_profile().await?,
        ProviderCommand::Balance => serde_json::to_value(api.balance(&fresh_external_id()).await?)?,
        ProviderCommand::AccountInquiry {
            bank_code,
            account_no,
        } => {
            let req = AccountInquiryRequest {
                bank_code: BankCode::parse(&bank_code)?,
                account_no: AccountNumber::parse(&account_no)?,
                external_id: fresh_external_id(),
            };
            serde_json::to_value(api.account_inquiry(&req).await?)?
        }
        ProviderCommand::History {
            from,
            to,
            page,
            page_size,
        } => {
            let q = HistoryQuery {
                from,
                to,
                page,
                page_size,
                external_id: fresh_external_id(),
            };
            serde_json::to_value(api.history(&q).await?)?
        }
        ProviderCommand::Health { .. } | ProviderCommand::Doctor => {
            unreachable!("answered above")
        }
        ProviderCommand::TransferStatus {
            reference,
            provider_reference,
            account_no,
            amount,
        } => {
            let q = StatusQuery {
                partner_reference: PartnerReference::parse(&reference)?,
                provider_reference,
                amount: Money::parse(&amount, "amount")?,
                beneficiary_account_no: Some(AccountNumber::parse(&account_no)?),
                transaction_date: crate::snap::timestamp::now(),
                external_id: fresh_external_id(),
            };
            serde_json::to_value(api.transfer_status(&q).await?)?
        }
    })
}
