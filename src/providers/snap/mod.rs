//! The SNAP-BI glue iFortepay and NICEPAY share: the answer classification
//! (`answer`) and the signed client with its token cache (`client`).

pub mod answer;
pub mod client;

pub use answer::{verdict, CallKind, SnapAnswer, Verdict};
pub use client::{fresh_external_id, headers, SnapCall, SnapClient, SnapConfig};
