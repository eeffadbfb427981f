//! Driving the demo over HTTP: submit the batch, inject faults, poll to the end.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::report::{progress_line, progress_table, Row};
use super::scenario::{Case, Fault, What};
use super::{DemoOptions, Stack, DEMO_API_KEY};
use crate::client::Client;
use crate::domain::PartnerReference;
use crate::ledger::PayoutId;
use crate::sandbox::SandboxHandle;

fn request_body(c: &Case) -> (&'static str, Value) {
    match &c.what {
        What::Transfer {
            account,
            bank,
            name,
        } => (
            "/v1/transfers",
            json!({
                "provider": c.provider.as_str(),
                "partnerReferenceNo": c.reference,
                "amount": {"value": c.amount, "currency": "IDR"},
                // A phone on every transfer: NICEPAY's registration requires one.
                "beneficiary": {"accountNo": account, "bankCode": bank, "name": name,
                                "phone": "081234567890"},
                "remark": "kirim demo",
            }),
        ),
        What::Payment => (
            "/v1/payments",
            json!({
                "provider": c.provider.as_str(),
                "partnerReferenceNo": c.reference,
                "amount": {"value": c.amount, "currency": "IDR"},
                // A sandbox card token (the sandbox accepts any opaque token).
                "bankCardToken": "demo-card-token-0001",
                "payOption": "BRI",
                "remarks": "kirim demo",
            }),
        ),
    }
}

/// POST one payout through the API with the demo key.
async fn submit(http: &reqwest::Client, api: &str, c: &Case) -> anyhow::Result<PayoutId> {
    let (path, body) = request_body(c);
    let resp = http
        .post(format!("{api}{path}"))
        .header("X-API-Key", DEMO_API_KEY)
        .header("Idempotency-Key", &c.reference)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {path} for {}", c.reference))?;
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "POST {path} for {} answered {status}: {answer}",
            c.reference
        );
    }
    Ok(PayoutId::new(
        c.provider,
        PartnerReference::parse(&c.reference)?,
    ))
}

async fn add_fault(
    http: &reqwest::Client,
    sandbox: &SandboxHandle,
    f: Fault,
) -> anyhow::Result<()> {
    let resp = http
        .post(sandbox.url("/admin/faults"))
        .json(&json!({"endpoint": f.endpoint, "kind": f.kind, "times": 1}))
        .send()
        .await
        .context("sandbox admin")?;
    if !resp.status().is_success() {
        bail!(
            "sandbox refused fault {} {}: {}",
            f.endpoint,
            f.kind,
            resp.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// Wait until every injected fault has fired (so no other payout meets one).
async fn faults_consumed(http: &reqwest::Client, sandbox: &SandboxHandle) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rules: Value = http
            .get(sandbox.url("/admin/faults"))
            .send()
            .await
            .context("sandbox admin")?
            .json()
            .await
            .context("sandbox admin")?;
        if rules.as_array().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the injected faults never fired: {rules}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn refresh(client: &Client, rows: &mut [Row]) -> anyhow::Result<()> {
    for r in rows.iter_mut() {
        if r.is_final() {
            continue;
        }
        r.payout = client.ledger().get(&r.id).await?;
        if r.is_final() {
            r.history = client.ledger().history(&r.id).await?;
        }
    }
    Ok(())
}

/// Enqueue the batch and follow it until every payout is final or time runs out.
pub(super) async fn drive(
    stack: &Stack,
    cases: &[Case],
    opts: &DemoOptions,
    live: bool,
    started: Instant,
) -> anyhow::Result<Vec<Row>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    // An account inquiry first: the synchronous API call.
    let inquiry = http
        .post(format!("{}/v1/account-inquiries", stack.api_url))
        .header("X-API-Key", DEMO_API_KEY)
        .json(&json!({"provider": "ifortepay", "bankCode": "014", "accountNo": "8753293240"}))
        .send()
        .await
        .context("account inquiry")?;
    let status = inquiry.status();
    let info: Value = inquiry.json().await.unwrap_or(Value::Null);
    println!(
        "account inquiry 014/8753293240 via ifortepay: {status} {}",
        info.get("account_name")
            .and_then(Value::as_str)
            .unwrap_or("?")
    );

    let mut rows = Vec::with_capacity(cases.len());
    // Faulted payouts go first, alone on their endpoints, so the fault hits them.
    for c in cases.iter().filter(|c| c.fault.is_some()) {
        if let Some(f) = c.fault {
            add_fault(&http, &stack.sandbox, f).await?;
        }
        rows.push(Row {
            case: c.clone(),
            id: submit(&http, &stack.api_url, c).await?,
            payout: None,
            history: Vec::new(),
            booked: 0,
        });
    }
    faults_consumed(&http, &stack.sandbox).await?;
    for c in cases.iter().filter(|c| c.fault.is_none()) {
        rows.push(Row {
            case: c.clone(),
            id: submit(&http, &stack.api_url, c).await?,
            payout: None,
            history: Vec::new(),
            booked: 0,
        });
    }
    // Same order as the batch in the summary.
    rows.sort_by_key(|r| cases.iter().position(|c| c.reference == r.case.reference));
    println!(
        "enqueued {} payouts through POST /v1/transfers and /v1/payments",
        rows.len()
    );
    println!();

    let deadline = Instant::now() + opts.timeout;
    let mut drawn = 0usize;
    let mut last_line = Instant::now() - Duration::from_secs(10);
    let mut stdout = std::io::stdout();
    loop {
        refresh(&stack.client, &mut rows).await?;
        let done = rows.iter().all(Row::is_final);
        let elapsed = started.elapsed();
        if live {
            let lines = progress_table(&rows, elapsed);
            let mut buf = String::new();
            if drawn > 0 {
                let _ = write!(buf, "\x1b[{drawn}A");
            }
            for l in &lines {
                let _ = writeln!(buf, "\x1b[2K{l}");
            }
            drawn = lines.len();
            let _ = stdout.write_all(buf.as_bytes());
            let _ = stdout.flush();
        } else if done || last_line.elapsed() >= Duration::from_secs(1) {
            println!("{}", progress_line(&rows, elapsed));
            last_line = Instant::now();
        }
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !live {
        println!();
        for l in progress_table(&rows, started.elapsed()) {
            println!("{l}");
        }
    }
    for r in rows.iter_mut() {
        // Histories of payouts that did not finish, for the summary.
        if !r.is_final() {
            r.history = stack.client.ledger().history(&r.id).await?;
        }
        // The sandbox's books: the never-paid-twice oracle.
        r.booked = stack
            .sandbox
            .state()
            .bookings_for(r.case.reference.as_str())
            .iter()
            .filter(|b| b.provider == r.case.provider)
            .map(|b| b.booked_count)
            .sum();
    }
    Ok(rows)
}
