//! The SNAP-BI glue iFortepay and NICEPAY share: the answer classification
//! (`answer`), the HMAC-signed client with its token cache (`client`), and the
//! RSA-signed client without a token (`asymmetric`).

pub mod answer;
pub mod asymmetric;
pub mod client;

pub use answer::{verdict, CallKind, SnapAnswer, Verdict};
pub use client::{fresh_external_id, headers, SnapCall, SnapClient, SnapConfig};
