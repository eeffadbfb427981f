//! `kirim recon report --date D`: the day-end check of the providers' books
//! against the ledger (see [`crate::recon`]).

use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Subcommand};

use crate::config::Settings;
use crate::ledger::Ledger;
use crate::recon::{self, Verdict};

#[derive(Debug, Subcommand)]
pub enum ReconCommand {
    /// List the providers' transactions of one Jakarta day and compare them with the
    /// ledger: orphans (unknown to the ledger), mismatches (another final state or
    /// amount), behind (the ledger not final yet). Exits 1 when there are orphans or
    /// mismatches.
    Report(ReportArgs),
    /// Adopt an orphan: record the transaction the provider has, with the details
    /// from the provider's report, and let kirim inquire it (it is never sent).
    /// Audited as `adopted` with --actor and --note.
    Adopt(Box<AdoptArgs>),
}

#[derive(Debug, Args)]
pub struct AdoptArgs {
    #[command(flatten)]
    pub transfer: super::enqueue::TransferArgs,
    /// Who adopts it (recorded in the audit trail).
    #[arg(long, env = "USER", default_value = "operator")]
    pub actor: String,
    /// Why: the provider's evidence (mandatory, recorded in the audit trail).
    #[arg(long)]
    pub note: String,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The Jakarta day, YYYY-MM-DD (default: yesterday).
    #[arg(long)]
    pub date: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(settings: &Settings, c: ReconCommand) -> anyhow::Result<ExitCode> {
    match c {
        ReconCommand::Report(a) => report(settings, a).await,
        ReconCommand::Adopt(a) => adopt(settings, *a).await,
    }
}

async fn adopt(settings: &Settings, a: AdoptArgs) -> anyhow::Result<ExitCode> {
    let order = a.transfer.order()?;
    let client = crate::client::Client::connect(settings).await?;
    match recon::adopt(&client, &order, &a.actor, &a.note).await? {
        crate::jobs::apply::Reported::Applied { to, .. } => {
            println!(
                "{}:{} adopted ({to}): inquiring the provider",
                order.provider, order.partner_reference
            );
            Ok(ExitCode::SUCCESS)
        }
        crate::jobs::apply::Reported::Missing => {
            anyhow::bail!("the adopted record disappeared from the ledger")
        }
    }
}

async fn report(settings: &Settings, a: ReportArgs) -> anyhow::Result<ExitCode> {
    let date = match &a.date {
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| anyhow::anyhow!("--date: must be YYYY-MM-DD, got {d:?}"))?,
        None => {
            let today = chrono::Utc::now()
                .with_timezone(&crate::snap::timestamp::jakarta())
                .date_naive();
            today.pred_opt().unwrap_or(today)
        }
    };
    let ledger = Ledger::connect(&settings.redis).await?;
    let built = crate::providers::build_all(&settings.providers)?;
    let mut providers: Vec<_> = built.iter().map(|(p, c)| (*p, c.as_ref())).collect();
    providers.sort_by_key(|(p, _)| p.as_str());
    let r = recon::report(&ledger, &providers, date).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("reconciliation of {} (Jakarta day)", r.date);
        println!(
            "{:<10} {:>8} {:>9} {:>7} {:>8}",
            "provider", "orphan", "mismatch", "behind", "matched"
        );
        for (p, m) in &r.counts {
            let n = |v: Verdict| m.get(v.as_str()).copied().unwrap_or(0);
            println!(
                "{:<10} {:>8} {:>9} {:>7} {:>8}",
                p,
                n(Verdict::Orphan),
                n(Verdict::Mismatch),
                n(Verdict::Behind),
                n(Verdict::Matched)
            );
        }
        for (p, why) in &r.not_checked {
            println!("{p:<10} not checked: {why}");
        }
        for l in &r.lines {
            println!(
                "{:<8} {}:{} provider {} {} / ledger {} — {}",
                l.verdict.as_str(),
                l.provider,
                l.partner_reference,
                l.provider_state,
                l.provider_amount,
                l.ledger_state.map_or("-", |s| s.as_str()),
                l.why
            );
        }
    }
    let bad = r
        .lines
        .iter()
        .any(|l| matches!(l.verdict, Verdict::Orphan | Verdict::Mismatch));
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
