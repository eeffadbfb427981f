//! Integration tests of the built-in sandbox over real HTTP. Each test spawns its
//! own sandbox on 127.0.0.1:0; requests are signed by hand in `sandbox/helpers.rs`
//! (hmac/sha2/rsa crates, not kirim::snap).

mod admin;
mod controls;
mod faults;
mod helpers;
mod ifortepay;
mod nicepay;
mod singapay;
