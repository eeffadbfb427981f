//! `kirim status [REF]` and `kirim list --state S`.
//!
//! Without a reference, `kirim status` shows each provider's circuit breaker as
//! the workers last published it: the first thing to check when payouts stop
//! moving (DESIGN rule 13).

use std::process::ExitCode;

use clap::Args;

use crate::circuit::{read_all, CircuitState, PublishedState};
use crate::client::{Client, PayoutView};
use crate::config::Settings;
use crate::domain::{PartnerReference, Provider, State};
use crate::ledger::PayoutId;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// `provider:partnerReferenceNo`, or just the reference (all providers are searched).
    /// Omit it to see each provider's circuit breaker.
    pub reference: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub state: String,
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

fn money_line(v: &PayoutView) -> String {
    let p = &v.payout;
    let who = p
        .details
        .beneficiary
        .as_ref()
        .map(|b| format!("{} {} ({})", b.bank_code, b.account_no, b.name))
        .unwrap_or_else(|| "direct debit".into());
    format!("{} IDR to {who}", p.details.amount)
}

/// The payouts a user may mean by `reference`: `provider:reference` exactly, the
/// reference at `provider`, or the reference at every provider (first found wins).
pub fn candidate_ids(reference: &str, provider: Option<&str>) -> anyhow::Result<Vec<PayoutId>> {
    if let Ok(id) = reference.parse::<PayoutId>() {
        return Ok(vec![id]);
    }
    let reference = PartnerReference::parse(reference)?;
    Ok(match provider {
        Some(p) => vec![PayoutId::new(p.parse()?, reference)],
        None => crate::providers::builtin_ids()
            .iter()
            .map(|p| PayoutId::new(*p, reference.clone()))
            .collect(),
    })
}

/// Every provider's published breaker; a provider never published is closed.
pub async fn circuits(client: &Client) -> anyhow::Result<Vec<PublishedState>> {
    let mut conn = client.ledger().connection();
    let published = read_all(&mut conn, client.ledger().keys()).await?;
    Ok(crate::providers::builtin_ids()
        .iter()
        .map(|p| {
            published
                .get(p)
                .cloned()
                .unwrap_or_else(|| PublishedState::never_published(*p))
        })
        .collect())
}

async fn provider_overview(client: &Client, a: &StatusArgs) -> anyhow::Result<ExitCode> {
    let only: Option<Provider> = a.provider.as_deref().map(str::parse).transpose()?;
    let states: Vec<PublishedState> = circuits(client)
        .await?
        .into_iter()
        .filter(|s| only.map_or(true, |p| p == s.provider))
        .collect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&states)?);
    } else {
        for s in &states {
            println!("{:<10} circuit {}", s.provider.as_str(), s.describe());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn status(settings: &Settings, a: StatusArgs) -> anyhow::Result<ExitCode> {
    let client = Client::connect(settings).await?;
    let Some(reference) = a.reference.as_deref() else {
        return provider_overview(&client, &a).await;
    };
    let ids = candidate_ids(reference, a.provider.as_deref())?;
    for id in ids {
        if let Some(view) = client.status(&id).await? {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                let p = &view.payout;
                println!("{}  {}  {}", p.id, p.state, money_line(&view));
                if let Some(r) = &p.meta.provider_reference {
                    println!("  provider reference: {r}");
                }
                if let Some(c) = &p.meta.response_code {
                    println!(
                        "  last response: {c} {}",
                        p.meta.response_message.as_deref().unwrap_or("")
                    );
                }
                println!("  X-EXTERNAL-IDs: {}", p.external_ids.join(", "));
                // A paused provider explains a payout that is not moving.
                if let Some(c) = circuits(&client)
                    .await?
                    .into_iter()
                    .find(|c| c.provider == p.id.provider && c.state != CircuitState::Closed)
                {
                    println!("  provider circuit: {}", c.describe());
                }
                println!("  history:");
                for h in &view.history {
                    let at = chrono::DateTime::from_timestamp_millis(h.at)
                        .map(crate::snap::timestamp::format)
                        .unwrap_or_default();
                    let mv = match (h.from, h.to) {
                        (Some(f), Some(t)) if f != t => format!("{f} → {t}"),
                        (_, Some(t)) => t.to_string(),
                        _ => String::new(),
                    };
                    println!(
                        "    {at}  {:<12} {mv:<24} {} {}",
                        h.event,
                        h.response_code.as_deref().unwrap_or(""),
                        h.note.as_deref().or(h.message.as_deref()).unwrap_or("")
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
    }
    eprintln!("error: no payout {reference}");
    Ok(ExitCode::from(2))
}

pub async fn list(settings: &Settings, a: ListArgs) -> anyhow::Result<ExitCode> {
    let state: State = a.state.parse()?;
    let client = Client::connect(settings).await?;
    let payouts = client.list(state, a.limit).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&payouts)?);
    } else {
        for p in &payouts {
            println!("{}  {}  {} IDR", p.id, p.state, p.details.amount);
        }
        eprintln!("{} payout(s) in {state}", payouts.len());
    }
    Ok(ExitCode::SUCCESS)
}
