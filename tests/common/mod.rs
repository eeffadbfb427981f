//! Shared test helpers: a real Redis (never a mock) and settings pointing at it.
#![allow(dead_code)]

use std::path::Path;

use kirim::config::Settings;
use kirim::redis_server::{unique_namespace, TestRedis};

/// Settings from config/default.toml with Redis pointed at `redis` and a namespace
/// unique to the test (so tests can share a `REDIS_URL` server).
pub fn settings_for(redis: &TestRedis) -> Settings {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let mut s = Settings::load_from(&default, None, false).expect("default config loads");
    s.redis.url = redis.url().to_owned();
    s.redis.namespace = unique_namespace("test");
    // Key and secret paths in default.toml are relative to the repository root.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let p = &mut s.providers;
    p.ifortepay.private_key_path = root.join(&p.ifortepay.private_key_path);
    p.ifortepay.client_secret_file = p
        .ifortepay
        .client_secret_file
        .as_ref()
        .map(|f| root.join(f));
    p.nicepay.private_key_path = root.join(&p.nicepay.private_key_path);
    p.nicepay.public_key_path = p.nicepay.public_key_path.as_ref().map(|f| root.join(f));
    p.nicepay.client_secret_file = p.nicepay.client_secret_file.as_ref().map(|f| root.join(f));
    p.singapay.client_secret_file = p.singapay.client_secret_file.as_ref().map(|f| root.join(f));
    p.singapay.api_key_file = p.singapay.api_key_file.as_ref().map(|f| root.join(f));
    s
}

pub fn redis() -> TestRedis {
    TestRedis::start().unwrap_or_else(|e| panic!("{e}"))
}
