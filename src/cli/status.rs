//! `kirim status REF` and `kirim list --state S`.

use std::process::ExitCode;

use clap::Args;

use crate::client::{Client, PayoutView};
use crate::config::Settings;
use crate::domain::{PartnerReference, Provider};
use crate::ledger::{PayoutId, State};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// `provider:partnerReferenceNo`, or just the reference (all providers are searched).
    pub reference: String,
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
        None => Provider::ALL
            .iter()
            .map(|p| PayoutId::new(*p, reference.clone()))
            .collect(),
    })
}

pub async fn status(settings: &Settings, a: StatusArgs) -> anyhow::Result<ExitCode> {
    let client = Client::connect(settings).await?;
    let ids = candidate_ids(&a.reference, a.provider.as_deref())?;
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
    eprintln!("error: no payout {}", a.reference);
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
