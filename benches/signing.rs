//! Micro-benchmarks of the per-request CPU work: signatures, minify + hash,
//! response-code parsing and classification.
//! Run: cargo bench --bench signing

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kirim::snap::{self, ResponseCode};

const BODY: &str = r#"{
  "partnerReferenceNo": "INV-2026-11-000123",
  "amount": { "value": "150000.00", "currency": "IDR" },
  "beneficiaryAccountName": "Budi Santoso",
  "beneficiaryAccountNo": "8753293240",
  "beneficiaryBankCode": "014",
  "sourceAccountNo": "123812939120",
  "transactionDate": "2026-11-21T10:11:40.123+07:00",
  "feeType": "OUR",
  "originatorInfos": [{ "originatorCustomerNo": "053229281239", "originatorCustomerName": "PT Kirim Contoh", "originatorBankCode": "014" }],
  "additionalInfo": { "remark": "Gaji November", "transactionPurpose": "3", "beneficiaryCountry": "ID",
    "beneficiaryCity": "3173", "senderCountry": "ID", "senderCity": "3173", "isVirtualAccount": "N" }
}"#;

fn benches(c: &mut Criterion) {
    let key_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/sandbox/ifortepay_private.pem");
    let key = snap::keys::load_private_key(&key_path).expect("sandbox key");
    let ts = "2026-11-21T10:11:40.123+07:00";
    let minified = snap::minify(BODY).expect("valid body");

    let mut g = c.benchmark_group("snap");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hmac_service_signature", |b| {
        b.iter(|| {
            snap::sign_service(
                black_box("client-secret"),
                "POST",
                "/api/v1.2/transfer-interbank",
                black_box("eyJhbGciOiJIUzI1NiJ9.token"),
                black_box(minified.as_bytes()),
                ts,
            )
        })
    });
    g.bench_function("rsa_token_signature", |b| {
        b.iter(|| snap::sign_access_token(&key, black_box("MCPD00000012"), ts))
    });
    g.bench_function("minify_and_hash_transfer_body", |b| {
        b.iter(|| {
            let m = snap::minify(black_box(BODY)).expect("valid");
            snap::sha256_hex(m.as_bytes())
        })
    });
    g.bench_function("minify_unchecked_and_hash", |b| {
        b.iter(|| snap::sha256_hex(snap::minify::minify_unchecked(black_box(BODY)).as_bytes()))
    });
    g.bench_function("response_code_parse_and_classify", |b| {
        b.iter(|| {
            black_box("2021800")
                .parse::<ResponseCode>()
                .map(|c| c.classify())
        })
    });
    g.finish();
}

criterion_group!(signing, benches);
criterion_main!(signing);
