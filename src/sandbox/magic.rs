//! Magic beneficiary account numbers: deterministic outcomes for tests and demos.
//!
//! They work the same for every provider (iFortepay `beneficiaryAccountNo`, NICEPAY
//! `beneficiaryAccountNo`, Singapay
//! `bank_account_number`) and win over the random cancel ratio.
//!
//! | account      | effect |
//! |--------------|--------|
//! | `9000000001` | booked INIT, always settles CANCELLED (refunded; NICEPAY 09, Singapay 05) |
//! | `9000000002` | invalid account: refused at account inquiry and transfer (404xx11, Singapay SP010), nothing booked |
//! | `9000000003` | insufficient funds whatever the balance (403xx14, Singapay SP003), nothing booked |
//! | `9000000004` | booked INIT and never settles (not even `POST /admin/settle`): a payout that needs review |
//! | `9000000005` | always settles SUCCESS (ignores `cancel_ratio`) |
//!
//! Direct debit (iFortepay service 54) uses the amount instead: `30003.00` stays
//! pending (03), `40004.00` succeeds then reports refunded (04), `60006.00` fails (06).

/// Settles CANCELLED.
pub const ALWAYS_CANCEL: &str = "9000000001";
/// Refused as an invalid account.
pub const INVALID_ACCOUNT: &str = "9000000002";
/// Refused for insufficient funds.
pub const INSUFFICIENT_FUNDS: &str = "9000000003";
/// Stays INIT forever.
pub const STUCK: &str = "9000000004";
/// Settles SUCCESS.
pub const ALWAYS_SUCCESS: &str = "9000000005";

/// Direct debit amount that stays pending (03).
pub const DEBIT_PENDING: &str = "30003.00";
/// Direct debit amount that is refunded (04).
pub const DEBIT_REFUNDED: &str = "40004.00";
/// Direct debit amount that fails (06).
pub const DEBIT_FAILED: &str = "60006.00";
