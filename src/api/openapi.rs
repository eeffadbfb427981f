//! The OpenAPI 3.1 document served at `/openapi.json`.

use serde_json::{json, Value};

fn error_response(desc: &str) -> Value {
    json!({ "description": desc, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

/// The document, with the provider names the registry knows.
pub fn document(registry: &crate::providers::Registry) -> Value {
    let all: Vec<&str> = registry.modules().map(|m| m.id().as_str()).collect();
    let debit: Vec<&str> = registry
        .modules()
        .filter(|m| {
            m.capabilities()
                .contains(&crate::providers::Capability::DirectDebit)
        })
        .map(|m| m.id().as_str())
        .collect();
    let titles: Vec<&str> = registry.modules().map(|m| m.title()).collect();
    let description = format!("Durable payouts to {}.", titles.join(", "));
    let errors = json!({
        "400": error_response("Invalid request; `field` and `rule` say what is wrong"),
        "401": error_response("Missing or invalid API key"),
        "409": error_response("Same partnerReferenceNo with different details"),
        "413": error_response("Body too large"),
        "422": error_response("Idempotency-Key reused with a different body"),
        "429": error_response("Rate limited; see Retry-After")
    });
    let idem = json!({ "name": "Idempotency-Key", "in": "header", "required": false,
        "schema": { "type": "string", "maxLength": 64 },
        "description": "Retries with the same key and body return the original payout; a different body is refused (422). Used as partnerReferenceNo when the body has none." });
    json!({
        "openapi": "3.1.0",
        "info": { "title": "kirim", "version": env!("CARGO_PKG_VERSION"),
                  "description": description },
        "security": [ { "bearer": [] }, { "apiKey": [] } ],
        "paths": {
            "/v1/transfers": {
                "post": { "summary": "Queue a transfer (idempotent on provider + partnerReferenceNo)",
                    "parameters": [idem.clone()],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/TransferRequest" } } } },
                    "responses": merge(json!({
                        "201": { "description": "Recorded and queued", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Enqueued" } } } },
                        "200": { "description": "Already recorded with the same details", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Enqueued" } } } }
                    }), &errors) },
                "get": { "summary": "List payouts in a state (paginated)",
                    "parameters": [
                        { "name": "state", "in": "query", "required": true, "schema": { "$ref": "#/components/schemas/State" } },
                        { "name": "cursor", "in": "query", "schema": { "type": "integer" } },
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } }
                    ],
                    "responses": { "200": { "description": "A page; pass nextCursor back for the next one" } } }
            },
            "/v1/transfers/{reference}": {
                "get": { "summary": "A payout with its state and audit trail",
                    "parameters": [
                        { "name": "reference", "in": "path", "required": true, "schema": { "type": "string" } },
                        { "name": "provider", "in": "query", "schema": { "type": "string", "enum": all.clone() } }
                    ],
                    "responses": { "200": { "description": "The payout" }, "404": error_response("No such payout") } }
            },
            "/v1/payments": {
                "post": { "summary": "Queue a direct-debit payment",
                    "parameters": [idem],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PaymentRequest" } } } },
                    "responses": merge(json!({ "201": { "description": "Recorded and queued" }, "200": { "description": "Already recorded" } }), &errors) }
            },
            "/v1/payments/{reference}": {
                "get": { "summary": "A payment with its audit trail",
                    "parameters": [ { "name": "reference", "in": "path", "required": true, "schema": { "type": "string" } } ],
                    "responses": { "200": { "description": "The payment" }, "404": error_response("No such payment") } }
            },
            "/v1/account-inquiries": {
                "post": { "summary": "Look up a beneficiary account name (synchronous)",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object",
                        "required": ["provider", "bankCode", "accountNo"],
                        "properties": { "provider": { "type": "string" }, "bankCode": { "type": "string" }, "accountNo": { "type": "string" } } } } } },
                    "responses": merge(json!({ "200": { "description": "Account found" }, "502": error_response("Provider unavailable") }), &errors) }
            },
            "/healthz": { "get": { "summary": "Liveness", "security": [], "responses": { "200": { "description": "alive" } } } },
            "/readyz": { "get": { "summary": "Readiness (Redis reachable)", "security": [], "responses": { "200": { "description": "ready" }, "503": { "description": "Redis unreachable" } } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "security": [], "responses": { "200": { "description": "OpenMetrics text (application/openmetrics-text; version=1.0.0)" } } } }
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" }
            },
            "schemas": {
                "State": { "type": "string", "enum": ["ACCEPTED", "SUBMITTING", "PENDING", "UNKNOWN", "NEEDS_REVIEW", "SUCCEEDED", "CANCELLED", "FAILED"] },
                "Amount": { "type": "object", "required": ["value"], "properties": {
                    "value": { "type": "string", "pattern": "^[0-9]{1,16}(\\.[0-9]{1,2})?$", "example": "150000.00" },
                    "currency": { "type": "string", "enum": ["IDR"] } } },
                "TransferRequest": { "type": "object", "required": ["provider", "amount", "beneficiary"], "properties": {
                    "provider": { "type": "string", "enum": all },
                    "partnerReferenceNo": { "type": "string", "maxLength": 40, "pattern": "^[A-Za-z0-9._-]+$" },
                    "amount": { "$ref": "#/components/schemas/Amount" },
                    "beneficiary": { "type": "object", "required": ["accountNo", "bankCode", "name"], "properties": {
                        "accountNo": { "type": "string", "pattern": "^[0-9]{1,25}$" },
                        "bankCode": { "type": "string", "maxLength": 8 },
                        "name": { "type": "string", "maxLength": 100 },
                        "email": { "type": "string", "maxLength": 50 },
                        "phone": { "type": "string", "pattern": "^\\+?[0-9]{6,15}$",
                            "description": "Mandatory for nicepay (beneficiaryPhone; digits only there, no '+')." },
                        "address": { "type": "string", "maxLength": 100 },
                        "residence": { "type": "string", "enum": ["resident", "non_resident"],
                            "description": "Where the beneficiary lives (NICEPAY beneficiaryCustomerResidence 1 Indonesia / 2 Non Indonesia). Absent: the provider's configured default (nicepay: beneficiary_customer_residence, \"1\")." },
                        "customerType": { "type": "string", "enum": ["individual", "company", "government"],
                            "description": "What kind of party the beneficiary is (NICEPAY beneficiaryCustomerType 1 Personal / 2 Company / 3 Government); also accepted as customer_type. Absent: the provider's configured default (nicepay: beneficiary_customer_type, \"1\")." } } },
                    "remark": { "type": "string", "maxLength": 100 },
                    "verifyBeneficiaryName": { "type": "boolean" } } },
                "PaymentRequest": { "type": "object", "required": ["amount", "bankCardToken"], "properties": {
                    "provider": { "type": "string", "enum": debit },
                    "partnerReferenceNo": { "type": "string", "maxLength": 40 },
                    "amount": { "$ref": "#/components/schemas/Amount" },
                    "bankCardToken": { "type": "string", "maxLength": 560, "writeOnly": true },
                    "withOtp": { "type": "boolean" },
                    "payOption": { "type": "string", "example": "BRI" },
                    "remarks": { "type": "string", "maxLength": 64 } } },
                "Enqueued": { "type": "object", "properties": {
                    "id": { "type": "string", "example": "ifortepay:INV-0001" },
                    "state": { "$ref": "#/components/schemas/State" },
                    "created": { "type": "boolean" } } },
                "Error": { "type": "object", "properties": { "error": { "type": "object", "properties": {
                    "code": { "type": "string" }, "message": { "type": "string" },
                    "field": { "type": "string" }, "rule": { "type": "string" } } } } }
            }
        }
    })
}

fn merge(mut a: Value, b: &Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            a.entry(k.clone()).or_insert(v.clone());
        }
    }
    a
}
