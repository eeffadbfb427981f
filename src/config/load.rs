//! Loading the layers: files, then the `KIRIM_…` environment (kept as strings),
//! relative `*_file` / `*_path` values resolved beside their file, secrets refused
//! in files and resolved from the environment or a file.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

use super::{ConfigError, Settings, CONFIG_SECTIONS};
use crate::domain::Secret;

/// Keys that hold secrets and therefore must not come from a file.
const SECRET_KEYS: &[&str] = &["notify.secret", "console.session_key"];

/// Keys of a provider section that hold secrets (`providers.NAME.KEY`).
pub const PROVIDER_SECRET_KEYS: &[&str] = &["client_secret", "api_key", "private_key"];

/// Resolve a secret from its value or its file.
pub fn resolve_secret(
    value: &Option<Secret>,
    file: &Option<PathBuf>,
    key: &str,
) -> Result<Secret, ConfigError> {
    if let Some(v) = value {
        if !v.is_empty() {
            return Ok(v.clone());
        }
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::invalid(
                format!("{key}_file"),
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}_file"),
                format!("{} is empty", path.display()),
            ));
        }
        return Ok(Secret::new(trimmed));
    }
    Err(ConfigError::invalid(
        key,
        format!(
            "is required: set KIRIM_{} or {key}_file",
            key.to_ascii_uppercase().replace('.', "__")
        ),
    ))
}

/// The `KIRIM_<SECTION>__…` variables, keyed `section.key` after `split("__")`.
///
/// Only `KIRIM_<SECTION>__…` variables of kirim's own sections are configuration:
/// `KIRIM_BANK_CARD_TOKEN`, `KIRIM_CONFIG`, the sandbox's `KIRIM_SANDBOX__*` and the
/// like are read elsewhere (or by someone else) and must not stop every command
/// with "unknown field".
fn kirim_env() -> Env {
    Env::prefixed("KIRIM_").split("__").filter(|key| {
        // Seen after `split`, so `redis.url`; a bare `bank_card_token` has no section.
        let key = key.as_str().to_ascii_lowercase().replace("__", ".");
        key.split_once('.')
            .is_some_and(|(section, _)| CONFIG_SECTIONS.contains(&section))
    })
}

/// Environment variables whose scalar values stay strings.
///
/// figment's [`Env`] parses every value: `1234567890` becomes an integer, `true` a
/// boolean, `007` the number 7, and a `String` setting (an account number, a
/// client id, a city code) then refuses it unless it is quoted as `'"1234567890"'`.
/// Here a scalar is kept exactly as written; numeric and boolean settings still
/// accept it because [`Settings::load_from`] extracts lossily (a numeric string
/// is a number where a number is expected). Arrays and tables
/// (`KIRIM_RECONCILE__SCHEDULE_SECS=[10,30]`) are parsed as before.
pub(super) struct EnvStrings {
    /// `(dotted key, value as written)`.
    pub(super) vars: Vec<(String, String)>,
}

impl EnvStrings {
    /// This process's `KIRIM_<SECTION>__…` variables.
    fn from_process() -> Self {
        let vars = kirim_env()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v))
            .collect();
        EnvStrings { vars }
    }
}

impl figment::Provider for EnvStrings {
    /// Errors name the variable as it is set: `KIRIM_WORKER__CONCURRENCY`.
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable").interpolater(|_, keys| {
            let name: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
            format!("KIRIM_{}", name.join("__"))
        })
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        use figment::value::{Dict, Value};
        let mut dict = Dict::new();
        for (key, raw) in &self.vars {
            let value = match raw.parse::<Value>() {
                Ok(v @ (Value::Array(..) | Value::Dict(..))) => v,
                _ => Value::from(raw.clone()),
            };
            insert_nested(&mut dict, key, value);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// Put `value` at the dotted `key` of `dict`, making tables on the way; a later
/// variable for the same key wins, as in figment's own `Env`.
fn insert_nested(dict: &mut figment::value::Dict, key: &str, value: figment::value::Value) {
    use figment::value::{Dict, Value};
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_nested(inner, rest, value);
            }
        }
    }
}

/// Make relative `*_file` and `*_path` values from a config file relative to that
/// file's directory, so `kirim worker --config /etc/kirim/prod.toml` finds
/// `client_secret_file = "secrets/ifortepay"` beside the file whatever the working
/// directory. Values from the environment and absolute paths are left as written
/// (an environment value has no file to be relative to: it stays relative to the
/// working directory).
///
/// Generic over the settings tree: any key ending in `_file` or `_path`, in any
/// section, so a new provider's key files need no code here.
fn resolve_relative_paths(figment: Figment) -> Result<Figment, ConfigError> {
    let mut found = Vec::new();
    for section in CONFIG_SECTIONS {
        if let Ok(value) = figment.find_value(section) {
            collect_path_values(&value, section, &mut found);
        }
    }
    let mut resolved = Vec::new();
    for (key, tag, text) in found {
        let path = Path::new(&text);
        if text.is_empty() || path.is_absolute() {
            continue;
        }
        let source = figment
            .get_metadata(tag)
            .and_then(|m| m.source.as_ref())
            .and_then(|s| s.file_path());
        let Some(dir) = source.and_then(Path::parent) else {
            continue;
        };
        let joined = dir.join(path);
        let Some(joined) = joined.to_str() else {
            return Err(ConfigError::invalid(
                key,
                format!("{} is not valid UTF-8", joined.display()),
            ));
        };
        resolved.push((key, joined.to_owned()));
    }
    Ok(resolved.into_iter().fold(figment, |f, (key, path)| {
        f.merge(Serialized::default(&key, path))
    }))
}

/// Every string under `value` whose key ends in `_file` or `_path`, with its dotted
/// key and the tag that says where it came from.
fn collect_path_values(
    value: &figment::value::Value,
    key: &str,
    out: &mut Vec<(String, figment::value::Tag, String)>,
) {
    use figment::value::Value;
    match value {
        Value::Dict(_, dict) => {
            for (k, v) in dict {
                collect_path_values(v, &format!("{key}.{k}"), out);
            }
        }
        Value::String(tag, text) if key.ends_with("_file") || key.ends_with("_path") => {
            out.push((key.to_owned(), *tag, text.clone()));
        }
        _ => {}
    }
}

/// The directory holding `default.toml`: `KIRIM_CONFIG_DIR`, else `./config`.
pub fn config_dir() -> PathBuf {
    std::env::var_os("KIRIM_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("config"))
}

impl Settings {
    /// Load `default.toml` from [`config_dir`], then `extra`, then the environment.
    pub fn load(extra: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(&config_dir().join("default.toml"), extra, true)
    }

    /// Load from explicit files; `use_env` adds the `KIRIM_` environment layer.
    pub fn load_from(
        default: &Path,
        extra: Option<&Path>,
        use_env: bool,
    ) -> Result<Settings, ConfigError> {
        Self::load_layers(default, extra, use_env.then(EnvStrings::from_process))
    }

    /// [`Settings::load_from`] with the environment layer given (tests pass their
    /// own instead of changing the process environment).
    pub(super) fn load_layers(
        default: &Path,
        extra: Option<&Path>,
        env: Option<EnvStrings>,
    ) -> Result<Settings, ConfigError> {
        if !default.exists() {
            return Err(ConfigError::invalid(
                "(file)",
                format!(
                    "{} not found; run from the repository root or set KIRIM_CONFIG_DIR",
                    default.display()
                ),
            ));
        }
        let mut figment = Figment::new().merge(Toml::file_exact(default));
        if let Some(extra) = extra {
            if !extra.exists() {
                return Err(ConfigError::invalid(
                    "(file)",
                    format!("{} not found", extra.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(extra));
        }
        if let Some(env) = env {
            figment = figment.merge(env);
        }
        let figment = resolve_relative_paths(figment)?;
        let provider_names: Vec<String> = match figment.find_value("providers") {
            Ok(figment::value::Value::Dict(_, d)) => d.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let provider_secrets = provider_names.iter().flat_map(|name| {
            PROVIDER_SECRET_KEYS
                .iter()
                .map(move |k| format!("providers.{name}.{k}"))
        });
        let all_secret_keys: Vec<String> = SECRET_KEYS
            .iter()
            .map(|k| (*k).to_owned())
            .chain(provider_secrets)
            .collect();
        for key in &all_secret_keys {
            let key = key.as_str();
            if let Some(meta) = figment.find_metadata(key) {
                if meta.source.as_ref().and_then(|s| s.file_path()).is_some() {
                    return Err(ConfigError::invalid(
                        key,
                        "secrets must not be written in a config file; use the environment or the *_file key",
                    ));
                }
            }
        }
        // Lossy: a numeric setting also accepts a numeric string ("32"), which is
        // what every environment value is (see `EnvStrings`).
        let settings: Settings = figment
            .extract_lossy()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        settings.validate()?;
        Ok(settings)
    }
}
