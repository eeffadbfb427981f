//! The door every transfer passes, whoever enqueues it (`POST /v1/transfers`,
//! `kirim enqueue transfer`): the producer's one bank identity becomes the code
//! this provider's documents ask for (`crate::banks`), then kirim's own rules
//! (`Client::transfer_payout`), then the provider's (amount limits, lengths,
//! characters: `PayoutProvider::check_transfer`). Nothing is stored here; an error
//! names the field and the rule.

use crate::client::{Client, ClientError, TransferOrder};
use crate::config::ProvidersSettings;
use crate::domain::BankCode;
use crate::providers::registry::{Providers, Registry};
use crate::providers::TransferRequest;

/// Check `order` as it will be held to, translating its bank code in place.
pub fn admit_transfer(
    registry: &Registry,
    sections: &ProvidersSettings,
    providers: &Providers,
    order: &mut TransferOrder,
) -> Result<(), ClientError> {
    let scheme = registry.get(order.provider).and_then(|m| {
        sections
            .section(order.provider.as_str())
            .and_then(|section| m.bank_scheme(section))
    });
    if let Some(scheme) = scheme {
        let code = crate::banks::translate(
            crate::banks::directory(),
            order.beneficiary.bank_code.as_str(),
            scheme,
            order.provider.as_str(),
            "beneficiary.bankCode",
        )?;
        order.beneficiary.bank_code = BankCode::parse_field(&code, "beneficiary.bankCode")?;
    }
    Client::transfer_payout(order)?;
    if let Some(provider) = providers.get(&order.provider) {
        provider.check_transfer(&TransferRequest::for_check(
            order.partner_reference.clone(),
            order.amount,
            order.beneficiary.clone(),
            order.remark.clone(),
        ))?;
    }
    Ok(())
}
