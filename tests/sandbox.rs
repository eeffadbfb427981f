//! Integration tests of the built-in sandbox over real HTTP. Each test spawns its
//! own sandbox on 127.0.0.1:0; requests are signed by hand in `sandbox/helpers.rs`
//! (hmac/sha2/rsa crates, not kirim::snap).

#[path = "sandbox/admin.rs"]
mod admin;
#[path = "sandbox/controls.rs"]
mod controls;
#[path = "sandbox/faults.rs"]
mod faults;
#[path = "sandbox/helpers.rs"]
mod helpers;
#[path = "sandbox/ifortepay.rs"]
mod ifortepay;
#[path = "sandbox/nicepay.rs"]
mod nicepay;
#[path = "sandbox/singapay.rs"]
mod singapay;
