//! `kirim enqueue transfer|payment`: producers from the shell.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::client::{Client, PaymentOrder, TransferOrder};
use crate::config::Settings;
use crate::domain::{
    AccountNumber, BankCode, Beneficiary, CustomerType, Money, PartnerReference, Provider,
    Residence, Secret,
};

#[derive(Debug, Subcommand)]
pub enum EnqueueCommand {
    /// Record a transfer (disbursement) and queue it. Idempotent on --reference.
    Transfer(TransferArgs),
    /// Record a direct-debit payment and queue it. Idempotent on --reference.
    Payment(PaymentArgs),
}

#[derive(Debug, Args)]
pub struct TransferArgs {
    #[arg(long)]
    pub provider: String,
    /// partnerReferenceNo: your unique id for this payout (the idempotency key).
    #[arg(long)]
    pub reference: String,
    /// Amount in IDR, e.g. 150000 or 150000.00.
    #[arg(long)]
    pub amount: String,
    #[arg(long)]
    pub bank_code: String,
    #[arg(long)]
    pub account_no: String,
    /// Beneficiary account name.
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub email: Option<String>,
    /// Beneficiary phone: an optional '+' and 6 to 15 digits (mandatory for nicepay,
    /// digits only there).
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub address: Option<String>,
    /// Where the beneficiary lives: resident | non_resident (default: the
    /// provider's configured default).
    #[arg(long)]
    pub residence: Option<String>,
    /// individual | company | government (default: the provider's configured default).
    #[arg(long)]
    pub customer_type: Option<String>,
    #[arg(long)]
    pub remark: Option<String>,
    /// Check the beneficiary name with an account inquiry before sending.
    #[arg(long)]
    pub verify_name: bool,
    #[arg(long)]
    pub json: bool,
}

impl TransferArgs {
    /// The order these arguments describe; a bad value names its flag.
    pub fn order(self) -> anyhow::Result<TransferOrder> {
        Ok(TransferOrder {
            provider: self.provider.parse::<Provider>()?,
            partner_reference: PartnerReference::parse(&self.reference)?,
            amount: Money::parse(&self.amount, "amount")?,
            beneficiary: Beneficiary {
                account_no: AccountNumber::parse_field(&self.account_no, "account-no")?,
                bank_code: BankCode::parse_field(&self.bank_code, "bank-code")?,
                name: self.name,
                email: self.email,
                phone: self.phone,
                address: self.address,
                residence: self
                    .residence
                    .as_deref()
                    .map(|v| Residence::parse_field(v, "residence"))
                    .transpose()?,
                customer_type: self
                    .customer_type
                    .as_deref()
                    .map(|v| CustomerType::parse_field(v, "customer-type"))
                    .transpose()?,
            },
            remark: self.remark,
            verify_beneficiary_name: self.verify_name,
        })
    }
}

#[derive(Debug, Args)]
pub struct PaymentArgs {
    #[arg(long, default_value = "ifortepay")]
    pub provider: String,
    #[arg(long)]
    pub reference: String,
    #[arg(long)]
    pub amount: String,
    /// The registered card's token; prefer the KIRIM_BANK_CARD_TOKEN environment variable.
    #[arg(long, env = "KIRIM_BANK_CARD_TOKEN", hide_env_values = true)]
    pub card_token: String,
    /// Card issuer (payOption), e.g. BRI.
    #[arg(long, default_value = "BRI")]
    pub pay_option: String,
    #[arg(long)]
    pub with_otp: bool,
    #[arg(long)]
    pub remarks: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(settings: &Settings, cmd: EnqueueCommand) -> anyhow::Result<ExitCode> {
    // Parse everything before connecting: bad input is reported even without Redis.
    enum Order {
        Transfer(TransferOrder),
        Payment(PaymentOrder),
    }
    let (order, json) = match cmd {
        EnqueueCommand::Transfer(a) => {
            let json = a.json;
            let mut order = a.order()?;
            // The same door as `POST /v1/transfers`: the provider's bank code and
            // field rules, before anything is stored.
            let registry = crate::providers::Registry::builtin();
            let providers = registry.build(&settings.providers)?;
            crate::admit::admit_transfer(&registry, &settings.providers, &providers, &mut order)?;
            (Order::Transfer(order), json)
        }
        EnqueueCommand::Payment(a) => {
            let order = PaymentOrder {
                provider: a.provider.parse::<Provider>()?,
                partner_reference: PartnerReference::parse(&a.reference)?,
                amount: Money::parse(&a.amount, "amount")?,
                bank_card_token: Secret::new(a.card_token),
                with_otp: a.with_otp,
                pay_option: a.pay_option,
                remarks: a.remarks,
            };
            (Order::Payment(order), a.json)
        }
    };
    let client = Client::connect(settings).await?;
    let enqueued = match &order {
        Order::Transfer(o) => client.enqueue_transfer(o).await?,
        Order::Payment(o) => client.enqueue_payment(o).await?,
    };
    if json {
        println!("{}", serde_json::to_string(&enqueued)?);
    } else {
        let what = if enqueued.created {
            "queued"
        } else {
            "already exists"
        };
        println!("{} {} ({what})", enqueued.id, enqueued.state);
    }
    Ok(ExitCode::SUCCESS)
}
