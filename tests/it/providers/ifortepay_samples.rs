//! Issue 16 ("protocol fidelity"): kirim's iFortepay requests against the
//! documents' own request samples, `tests/fixtures/ifortepay-transfer-interbank-request.json`
//! and `tests/fixtures/ifortepay-direct-debit-request.json` (copied from
//! ../shared/providers, see tests/fixtures/SOURCES.md).
//!
//! The real [`IfortepayClient`] is fed the sample's own values and sends to a
//! [`capture_server`]; what arrives is compared with the sample: the body's field
//! set (recursively: `amount`, `originatorInfos[]`, `additionalInfo`), each value's
//! JSON type and value, and the header set (transport headers aside), with the
//! per-message headers (timestamp, signature, message id, token) checked for form.
//! Where kirim differs on purpose, the difference is listed with the document's
//! reason (its table and line); any other difference fails the test, and so does a
//! listed one that no longer occurs.

use std::collections::BTreeSet;

use kirim::providers::ifortepay::IfortepayMerchant;

use super::*;

const TRANSFER_FIXTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ifortepay-transfer-interbank-request.json"
));
const DEBIT_FIXTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ifortepay-direct-debit-request.json"
));

/// The merchant profile's `businessAccountNumber` the capture server answers: the
/// samples' `sourceAccountNo` (ifortepay-transfer-interbank.txt:122, :159).
const PROFILE_ACCOUNT: &str = "123812939120";

/// One difference between a request kirim sent and a documented sample. Body paths
/// are dotted (`additionalInfo.remark`, `originatorInfos[].originatorBankCode`);
/// headers are `header <lower-case name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Diff {
    /// In the sample, not sent by kirim.
    Missing(String),
    /// Sent by kirim, not in the sample.
    Extra(String),
    /// In both, of another JSON type.
    Type(String),
    /// In both, of the same type, with another value (body: kirim was fed the
    /// sample's value; per-message headers: another form, e.g. length).
    Value(String),
}

use Diff::{Extra, Missing, Value as ValueDiff};

fn path(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

/// The differences between the sample's body `doc` and kirim's `ours`, recursively.
/// A missing or extra subtree is one difference (its path), not one per leaf.
fn body_diffs(at: &str, doc: &Value, ours: &Value, out: &mut BTreeSet<Diff>) {
    match (doc, ours) {
        (Value::Object(d), Value::Object(o)) => {
            for (k, dv) in d {
                match o.get(k) {
                    None => {
                        out.insert(Missing(path(at, k)));
                    }
                    Some(ov) => body_diffs(&path(at, k), dv, ov, out),
                }
            }
            for k in o.keys().filter(|k| !d.contains_key(*k)) {
                out.insert(Extra(path(at, k)));
            }
        }
        (Value::Array(d), Value::Array(o)) => {
            let at = format!("{at}[]");
            if d.len() != o.len() {
                out.insert(ValueDiff(format!(
                    "{at} (length {} vs {})",
                    d.len(),
                    o.len()
                )));
            }
            for (dv, ov) in d.iter().zip(o) {
                body_diffs(&at, dv, ov, out);
            }
        }
        _ if json_type(doc) != json_type(ours) => {
            out.insert(Diff::Type(format!(
                "{at} ({} vs {})",
                json_type(doc),
                json_type(ours)
            )));
        }
        _ if doc != ours => {
            out.insert(ValueDiff(at.to_owned()));
        }
        _ => {}
    }
}

/// Headers whose value changes with every message and whose form the documents fix:
/// compared by length (the timestamp's format, the signature's algorithm).
const SAME_FORM: [&str; 2] = ["x-timestamp", "x-signature"];
/// Headers whose value changes with every message and whose length no document
/// fixes (a numeric message id, a bearer token): checked for form only.
const FREE_VALUE: [&str; 2] = ["x-external-id", "authorization"];

/// The differences between the sample's headers and those kirim sent. Names are
/// compared case-insensitively (HTTP); fixed values must be equal; per-message
/// values must be well-formed (asserted here: no listed reason can excuse a
/// malformed one) and, for [`SAME_FORM`], of the sample's length.
fn header_diffs(doc: &Value, sent: &Seen, out: &mut BTreeSet<Diff>) {
    let doc: Vec<(String, &str)> = doc
        .as_object()
        .expect("sample headers")
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().expect("a string header")))
        .collect();
    let names = sent.header_names();
    for (name, _) in &doc {
        if !names.contains(name) {
            out.insert(Missing(format!("header {name}")));
        }
    }
    for name in &names {
        if !doc.iter().any(|(d, _)| d == name) {
            out.insert(Extra(format!("header {name}")));
        }
    }
    for (name, documented) in &doc {
        let Some(ours) = sent.header(name) else {
            continue;
        };
        match name.as_str() {
            "x-timestamp" => {
                let at = chrono::DateTime::parse_from_rfc3339(ours)
                    .unwrap_or_else(|e| panic!("X-TIMESTAMP {ours:?} is not ISO-8601: {e}"));
                assert_eq!(
                    at.offset().local_minus_utc(),
                    7 * 3600,
                    "Jakarta time: {ours}"
                );
            }
            "x-signature" => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(ours)
                    .unwrap_or_else(|e| panic!("X-SIGNATURE {ours:?} is not base64: {e}"));
            }
            "x-external-id" => assert!(
                !ours.is_empty() && ours.bytes().all(|b| b.is_ascii_digit()),
                "X-EXTERNAL-ID is a numeric string (ifortepay-transfer-interbank.txt:37): {ours}"
            ),
            "authorization" => assert!(
                ours.strip_prefix("Bearer ").is_some_and(|t| !t.is_empty()),
                "Authorization: Bearer <token> (ifortepay-transfer-interbank.txt:33)"
            ),
            _ => {}
        }
        let differs = if SAME_FORM.contains(&name.as_str()) {
            ours.len() != documented.len()
        } else {
            !FREE_VALUE.contains(&name.as_str()) && ours != *documented
        };
        if differs {
            out.insert(ValueDiff(format!("header {name}")));
        }
    }
}

/// Every difference found must be listed in `explained`, and every listed one found.
fn assert_only_explained(sample: &str, found: &BTreeSet<Diff>, explained: &[(Diff, &str)]) {
    let listed: BTreeSet<Diff> = explained.iter().map(|(d, _)| d.clone()).collect();
    let unexplained: Vec<&Diff> = found.difference(&listed).collect();
    let gone: Vec<&Diff> = listed.difference(found).collect();
    assert!(
        unexplained.is_empty() && gone.is_empty(),
        "{sample}:\n  differences no entry explains: {unexplained:?}\n  \
         explained differences that no longer occur (remove them): {gone:?}\n  \
         all found: {found:?}"
    );
}

fn str_at<'a>(v: &'a Value, dotted: &str) -> &'a str {
    dotted
        .split('.')
        .fold(v, |v, k| &v[k])
        .as_str()
        .unwrap_or_else(|| panic!("the sample has a string at {dotted}"))
}

fn opt_str(v: &Value, dotted: &str) -> Option<String> {
    dotted
        .split('.')
        .fold(v, |v, k| &v[k])
        .as_str()
        .map(str::to_owned)
}

fn samples(fixture: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    v["samples"].as_array().expect("samples").clone()
}

// ---------------------------------------------------------------------------
// Transfer interbank v1.2 (service 18)
// ---------------------------------------------------------------------------

/// The document's pending answer ("Pending Response — Regular Merchant",
/// ifortepay-transfer-interbank.txt:333-357), a token, and the merchant profile the
/// client checks once before its first transfer.
fn disbursement_answer(seen: &Seen) -> Value {
    if seen.path.ends_with("/access-token/b2b") {
        json!({"responseCode": "2007300", "responseMessage": "Successful",
               "accessToken": "t0k", "tokenType": "Bearer", "expiresIn": 900})
    } else if seen.path.ends_with("/profile") {
        json!({"responseCode": "2000000", "responseMessage": "Successful",
               "detailData": {"businessAccountNumber": PROFILE_ACCOUNT}})
    } else {
        let body: Value = serde_json::from_slice(&seen.body).unwrap_or_default();
        json!({
            "responseCode": "2021800",
            "responseMessage": "Request In Progress",
            "referenceNo": "STI25121100000014664",
            "partnerReferenceNo": body["partnerReferenceNo"],
            "amount": body["amount"],
            "beneficiaryAccountNo": body["beneficiaryAccountNo"],
            "beneficiaryBankCode": body["beneficiaryBankCode"],
            "sourceAccountNo": body["sourceAccountNo"],
            "additionalInfo": {"status": "INIT", "fee": {"value": "3000.00", "currency": "IDR"}}
        })
    }
}

/// The sample's `beneficiaryEmail` is the published page's rendering of an address
/// (`[email protected]`), which kirim refuses (no `@`): the test sends this one.
const EMAIL_STAND_IN: &str = "beneficiary@example.com";

/// The payout and the merchant section a sample's body describes.
fn transfer_from_sample(body: &Value) -> (TransferRequest, IfortepayMerchant) {
    let o = &body["originatorInfos"][0];
    let merchant = IfortepayMerchant {
        source_account_no: str_at(body, "sourceAccountNo").into(),
        originator_customer_no: str_at(o, "originatorCustomerNo").into(),
        originator_customer_name: str_at(o, "originatorCustomerName").into(),
        originator_bank_code: str_at(o, "originatorBankCode").into(),
        sender_country: str_at(body, "additionalInfo.senderCountry").into(),
        sender_city: str_at(body, "additionalInfo.senderCity").into(),
        beneficiary_country: str_at(body, "additionalInfo.beneficiaryCountry").into(),
        beneficiary_city: str_at(body, "additionalInfo.beneficiaryCity").into(),
        transaction_purpose: str_at(body, "additionalInfo.transactionPurpose").into(),
        is_virtual_account: str_at(body, "additionalInfo.isVirtualAccount").into(),
        fee_type: str_at(body, "feeType").into(),
    };
    let email = opt_str(body, "beneficiaryEmail").map(|e| {
        if e.contains('@') {
            e
        } else {
            EMAIL_STAND_IN.to_owned()
        }
    });
    let req = TransferRequest {
        partner_reference: PartnerReference::parse(str_at(body, "partnerReferenceNo"))
            .expect("the sample's reference"),
        amount: Money::parse(str_at(body, "amount.value"), "amount").expect("amount"),
        beneficiary: Beneficiary {
            account_no: AccountNumber::parse(str_at(body, "beneficiaryAccountNo")).expect("acct"),
            bank_code: BankCode::parse(str_at(body, "beneficiaryBankCode")).expect("bank"),
            name: str_at(body, "beneficiaryAccountName").into(),
            email,
            phone: None,
            address: opt_str(body, "beneficiaryAddress"),
            residence: None,
            customer_type: None,
        },
        remark: opt_str(body, "additionalInfo.remark"),
        external_id: ext(),
        transaction_date: str_at(body, "transactionDate").into(),
        earlier_send_unknown: false,
        fence: Default::default(),
    };
    (req, merchant)
}

/// Send a sample's transfer through the real client (with `origin` as the
/// `[providers.ifortepay] origin` setting) and return what arrived: the token call,
/// the profile check, the transfer.
async fn send_transfer(env: &Env, sample: &Value, origin: Option<&str>) -> Vec<Seen> {
    let (base, seen) = capture_server("", disbursement_answer).await;
    let (req, merchant) = transfer_from_sample(&sample["body"]);
    let mut s = env.ifp.clone();
    s.http.base_url = base;
    s.merchant = merchant;
    s.origin = origin.map(str::to_owned);
    let c = IfortepayClient::new(&s).expect("ifortepay client");
    let ex = c.transfer(&req).await.expect("transfer answered");
    assert_eq!(label(&ex), "in_progress", "{ex:?}");
    let seen = seen.lock().expect("log").clone();
    let paths: Vec<(&str, &str)> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("POST", "/api/v1.0/access-token/b2b"),
            ("GET", "/api/v1.0/profile"),
            ("POST", "/api/v1.2/transfer-interbank"),
        ],
        "token, profile check, transfer"
    );
    seen
}

/// Differences kirim makes from both transfer samples.
fn transfer_common(origin_set: bool) -> Vec<(Diff, &'static str)> {
    let mut v = vec![(
        ValueDiff("header x-timestamp".into()),
        "form: the header table says yyyy-MM-ddTHH:mm:ss.SSSTZD \
         (ifortepay-transfer-interbank.txt:34, milliseconds, 29 characters); the samples \
         show seconds (25); kirim follows the table",
    )];
    if !origin_set {
        v.push((
            Missing("header origin".into()),
            "ORIGIN is Optional in the header table (ifortepay-transfer-interbank.txt:38, \
             \"Origin domain registered on the iFortepay system\"): kirim sends it only when \
             providers.ifortepay.origin is set",
        ));
    }
    v
}

/// Differences from "Example Request - Regular Merchant" (lines 100-139).
fn regular_merchant_explained(origin_set: bool) -> Vec<(Diff, &'static str)> {
    let mut v = transfer_common(origin_set);
    v.extend([
        (
            Missing("customerReference".into()),
            "Optional (ifortepay-transfer-interbank.txt:58, \"Reference Number / Referral No / \
             Transaction ID\"): kirim's one transaction id is partnerReferenceNo (M, :47)",
        ),
        (
            ValueDiff("beneficiaryEmail".into()),
            "the sample's value is the page's rendering of an address (\"[email protected]\"), \
             which kirim refuses (no @); the test sends EMAIL_STAND_IN",
        ),
    ]);
    v
}

/// Differences from "Example Request for PJP / PPOB Merchant" (lines 144-189):
/// kirim is built for regular merchants and sends none of the sender fields the
/// document marks "Required for PJP/PPOB Merchants" or optional.
fn pjp_merchant_explained(origin_set: bool) -> Vec<(Diff, &'static str)> {
    let mut v = transfer_common(origin_set);
    v.push((
        Extra("currency".into()),
        "Optional (ifortepay-transfer-interbank.txt:57, \"fill: IDR\"): kirim always sends \
         IDR, as the regular-merchant sample does (:120)",
    ));
    const PJP: &str = "C/O, \"Required for PJP/PPOB Merchants\" \
         (ifortepay-transfer-interbank.txt:77-82): kirim supports regular merchants only and \
         has no sender-identity settings (docs/conformance/ifortepay.md, PJP/PPOB row)";
    for f in [
        "senderPlaceOfBirth",
        "senderDateOfBirth",
        "senderIdentityType",
        "senderAddress",
        "senderIdentityNo",
        "senderJob",
    ] {
        v.push((Missing(format!("additionalInfo.{f}")), PJP));
    }
    for (f, why) in [
        ("direction", "Optional, defaults to DOMESTIC (:83)"),
        (
            "originCountryOfTransaction",
            "Optional, defaults to senderCountry (:84)",
        ),
        (
            "senderNickName",
            "Optional, defaults to the registered brand name (:85)",
        ),
        ("senderTaxpayerRegistration", "Optional (:86)"),
        ("sourceOfFund", "Optional, defaults to \"Balance\" (:87)"),
        ("senderPhoneNumber", "Optional (:88)"),
        ("senderGender", "Optional, defaults to \"Male\" (:89)"),
    ] {
        v.push((Missing(format!("additionalInfo.{f}")), why));
    }
    v
}

/// Issue 16: each documented transfer sample, built by the real client from the
/// sample's own values, has the sample's field set, types, values and headers,
/// except the differences listed with their reasons. Run without and with the
/// optional `origin` setting: with it, the header set is the sample's exactly.
#[tokio::test]
async fn ifortepay_transfer_matches_the_documented_samples() {
    let env = spawn().await;
    let samples = samples(TRANSFER_FIXTURE);
    assert_eq!(samples.len(), 2, "regular and PJP/PPOB samples");
    for sample in &samples {
        let name = sample["name"].as_str().expect("name");
        assert_eq!(str_at(sample, "body.sourceAccountNo"), PROFILE_ACCOUNT);
        assert_eq!(
            str_at(sample, "url"),
            format!(
                "https://api-stage.senmo.id{}",
                kirim::providers::ifortepay::paths::TRANSFER
            )
        );
        let documented_origin = str_at(sample, "headers.ORIGIN");
        for origin in [None, Some(documented_origin)] {
            let seen = send_transfer(&env, sample, origin).await;
            let (token, profile, transfer) = (&seen[0], &seen[1], &seen[2]);
            assert_eq!(transfer.method, str_at(sample, "method"));
            let mut found = BTreeSet::new();
            body_diffs("", &sample["body"], &transfer.json(), &mut found);
            header_diffs(&sample["headers"], transfer, &mut found);
            let explained = if name.contains("PJP") {
                pjp_merchant_explained(origin.is_some())
            } else {
                regular_merchant_explained(origin.is_some())
            };
            assert_only_explained(&format!("{name}, origin {origin:?}"), &found, &explained);
            // ORIGIN goes with the disbursement service calls, never the token call.
            assert_eq!(profile.header("origin"), origin);
            assert_eq!(token.header("origin"), None);
        }
    }
}

// ---------------------------------------------------------------------------
// Direct debit payment (service 54)
// ---------------------------------------------------------------------------

/// The document's answers (ifortepay-direct-debit-payment.txt:137-145 with OTP,
/// :162-171 without).
fn debit_answer(seen: &Seen) -> Value {
    let body: Value = serde_json::from_slice(&seen.body).unwrap_or_default();
    let additional = if body["additionalInfo"]["isWithOtp"] == "Y" {
        json!({"chargeToken": "CHARGE_TIW6JE3N2MQAU7IG24G5XO5JBBC7ZKCH::0146", "remarks": "Testing Remarks"})
    } else {
        json!({"amount": "15200.00", "currency": "IDR", "remarks": "Testing Remarks"})
    };
    json!({
        "additionalInfo": additional,
        "partnerReferenceNo": body["partnerReferenceNo"],
        "referenceNo": "019106cd49f37da3908224ae6db2e800",
        "responseCode": "2005400",
        "responseMessage": "Successful"
    })
}

fn payment_from_sample(body: &Value) -> PaymentRequest {
    let with_otp = match str_at(body, "additionalInfo.isWithOtp") {
        "Y" => true,
        "N" => false,
        other => panic!("isWithOtp {other}"),
    };
    let pay_option = body["payOptionDetails"][0]["payOption"]
        .as_str()
        .expect("payOption");
    PaymentRequest {
        partner_reference: PartnerReference::parse(str_at(body, "partnerReferenceNo"))
            .expect("the sample's reference"),
        amount: Money::parse(str_at(body, "amount.value"), "amount").expect("amount"),
        bank_card_token: kirim::domain::Secret::new(str_at(body, "bankCardToken")),
        with_otp,
        pay_option: pay_option.into(),
        remarks: opt_str(body, "additionalInfo.remarks"),
        external_id: ext(),
        fence: Default::default(),
    }
}

/// Differences from both direct-debit samples (the page has no header table).
fn debit_explained() -> Vec<(Diff, &'static str)> {
    vec![
        (
            Missing("urlParam".into()),
            "Optional (ifortepay-direct-debit-payment.txt:23-26): kirim registers no \
             PAY_NOTIFY URL; it has no debit-notify (56) receiver and follows each payment \
             with the debit status inquiry (55)",
        ),
        (
            Missing("pointOfInitiation".into()),
            "Optional (ifortepay-direct-debit-payment.txt:27): a host-to-host payment from \
             kirim's backend has no user-facing point of initiation",
        ),
        (
            Missing("additionalInfo.billDetails".into()),
            "Optional (ifortepay-direct-debit-payment.txt:34-37): kirim's payment request \
             carries no bill name, e-mail or phone",
        ),
        (
            ValueDiff("header x-timestamp".into()),
            "form: the debit page has no header table; kirim writes iFortepay's documented \
             yyyy-MM-ddTHH:mm:ss.SSSTZD (ifortepay-transfer-interbank.txt:34, 29 characters), \
             the samples show seconds (25); unconfirmed for the debit host \
             (docs/conformance/ifortepay.md, Still unconfirmed)",
        ),
    ]
}

/// Issue 16: each documented direct-debit sample (with and without OTP), built by
/// the real client from the sample's values under `[providers.ifortepay.direct_debit]`,
/// has the sample's field set, types, values and exactly its header set: X-TIMESTAMP,
/// a 344-character (RSA-2048) X-SIGNATURE, X-Partner-Id, CHANNEL-ID, X-EXTERNAL-ID,
/// Content-Type, and no Authorization (no token call is made either).
#[tokio::test]
async fn ifortepay_direct_debit_matches_the_documented_samples() {
    let env = spawn().await;
    let samples = samples(DEBIT_FIXTURE);
    assert_eq!(samples.len(), 2, "with and without OTP");
    for sample in &samples {
        let name = sample["name"].as_str().expect("name");
        let (base, seen) = capture_server("", debit_answer).await;
        let mut s = env.ifp.clone();
        s.http.base_url = base.clone();
        let mut dd = s
            .direct_debit
            .clone()
            .expect("default.toml has the section");
        dd.base_url = Some(base);
        s.direct_debit = Some(dd);
        let c = IfortepayClient::new(&s).expect("ifortepay client");
        let ex = c
            .payment(&payment_from_sample(&sample["body"]))
            .await
            .expect("payment answered");
        assert_eq!(label(&ex), "in_progress", "{name}: {ex:?}");

        let seen = seen.lock().expect("log").clone();
        assert_eq!(
            seen.len(),
            1,
            "{name}: the payment only, no token: {seen:?}"
        );
        let payment = &seen[0];
        assert_eq!(payment.method, str_at(sample, "method"));
        assert_eq!(payment.path, str_at(sample, "path"));
        assert_eq!(
            payment.path,
            kirim::providers::ifortepay::paths::DEBIT_PAYMENT
        );
        let mut found = BTreeSet::new();
        body_diffs("", &sample["body"], &payment.json(), &mut found);
        header_diffs(&sample["headers"], payment, &mut found);
        assert_only_explained(name, &found, &debit_explained());
        assert_eq!(payment.header("x-signature").map(str::len), Some(344));
        assert_eq!(payment.header("authorization"), None);
    }
}
