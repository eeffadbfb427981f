//! One error type for the API, mapped to HTTP statuses in one place. Every body is
//! `{"error": {"code": …, "message": …, "field"?: …, "rule"?: …}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::client::ClientError;
use crate::domain::FieldError;
use crate::providers::{Outcome, ProviderError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error("request body is not valid: {0}")]
    BadBody(String),
    #[error("request body too large")]
    TooLarge,
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("rate limit exceeded")]
    RateLimited(u64),
    #[error("Idempotency-Key was already used with a different request body")]
    IdempotencyMismatch,
    #[error("{0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    #[error("provider: {0}")]
    ProviderUnavailable(String),
    #[error("provider refused: {code} {message}")]
    ProviderRefused { code: String, message: String },
    /// The ledger write did not reach the durability `redis.durability` asks for:
    /// the payout may exist on the primary, but is not acknowledged. Retrying with
    /// the same reference is safe.
    #[error("{0}; retry the same request")]
    NotDurable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid(f) => ApiError::Invalid(f),
            ClientError::Conflict { .. } => ApiError::Conflict(e.to_string()),
            ClientError::Ledger(crate::ledger::LedgerError::NotDurable(n)) => {
                ApiError::NotDurable(n.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Validation(f) => ApiError::Invalid(f),
            ProviderError::Call {
                outcome: Outcome::FinalFailure { code, message },
                ..
            } => ApiError::ProviderRefused { code, message },
            other => ApiError::ProviderUnavailable(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Invalid(_) | ApiError::BadBody(_) => {
                (StatusCode::BAD_REQUEST, "invalid_request")
            }
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::IdempotencyMismatch => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::ProviderUnavailable(_) => (StatusCode::BAD_GATEWAY, "provider_unavailable"),
            ApiError::NotDurable(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_durable"),
            ApiError::ProviderRefused { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "provider_refused")
            }
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal API error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let mut body = json!({ "error": { "code": code, "message": self.to_string() } });
        if let ApiError::Invalid(f) = &self {
            body["error"]["field"] = json!(f.field);
            body["error"]["rule"] = json!(f.rule);
        }
        let mut resp = (status, Json(body)).into_response();
        if let ApiError::RateLimited(secs) = self {
            if let Ok(v) = secs.to_string().parse() {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        resp
    }
}
