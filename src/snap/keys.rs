//! RSA key loading and generation.
//!
//! SNAP keys are RSA-2048. Providers hand out PKCS#8 (`BEGIN PRIVATE KEY`) but many
//! merchants generate PKCS#1 (`BEGIN RSA PRIVATE KEY`) with older openssl, so both
//! load. The errors say what is wrong with the *file* (missing, wrong PEM label, a
//! public key where a private one was expected, encrypted, too short), because a
//! wrong key file is the commonest first-day failure.

use std::path::{Path, PathBuf};

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use thiserror::Error;

/// The smallest modulus kirim accepts; SNAP mandates 2048.
pub const MIN_KEY_BITS: usize = 2048;

/// What is wrong with a key file or PEM text.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: no PEM block found (expected a line like '-----BEGIN PRIVATE KEY-----')")]
    NotPem { origin: String },
    #[error("{origin}: the PEM block is '{label}', expected {expected}")]
    WrongLabel {
        origin: String,
        label: String,
        expected: &'static str,
    },
    #[error("{origin}: the private key is encrypted; decrypt it first (openssl pkcs8 -in key.pem -out plain.pem)")]
    Encrypted { origin: String },
    #[error("{origin}: the {label} block could not be decoded: {detail}")]
    Malformed {
        origin: String,
        label: String,
        detail: String,
    },
    #[error("{origin}: the RSA key is {bits} bits; SNAP requires at least {MIN_KEY_BITS}")]
    TooShort { origin: String, bits: usize },
    #[error("RSA key generation failed: {0}")]
    Generate(String),
    #[error("cannot encode key: {0}")]
    Encode(String),
}

fn pem_label(pem: &str) -> Option<String> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &pem[start..];
    let end = rest.find("-----")?;
    Some(rest[..end].trim().to_owned())
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Parse a private key from PEM text (PKCS#8 or PKCS#1). `origin` names the source
/// in errors (usually the file path).
pub fn private_key_from_pem(pem: &str, origin: &str) -> Result<RsaPrivateKey, KeyError> {
    let origin = origin.to_owned();
    let label = pem_label(pem).ok_or_else(|| KeyError::NotPem {
        origin: origin.clone(),
    })?;
    let malformed = |detail: String| KeyError::Malformed {
        origin: origin.clone(),
        label: label.clone(),
        detail,
    };
    let key = match label.as_str() {
        "PRIVATE KEY" => {
            RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| malformed(e.to_string()))?
        }
        "RSA PRIVATE KEY" => {
            if pem.contains("Proc-Type: 4,ENCRYPTED") {
                return Err(KeyError::Encrypted { origin });
            }
            RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| malformed(e.to_string()))?
        }
        "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted { origin }),
        _ => {
            return Err(KeyError::WrongLabel {
                origin,
                label,
                expected: "'PRIVATE KEY' (PKCS#8) or 'RSA PRIVATE KEY' (PKCS#1)",
            })
        }
    };
    check_bits(key.size() * 8, &origin)?;
    Ok(key)
}

/// Parse a public key from PEM text (SubjectPublicKeyInfo or PKCS#1).
pub fn public_key_from_pem(pem: &str, origin: &str) -> Result<RsaPublicKey, KeyError> {
    let origin = origin.to_owned();
    let label = pem_label(pem).ok_or_else(|| KeyError::NotPem {
        origin: origin.clone(),
    })?;
    let malformed = |detail: String| KeyError::Malformed {
        origin: origin.clone(),
        label: label.clone(),
        detail,
    };
    let key = match label.as_str() {
        "PUBLIC KEY" => {
            RsaPublicKey::from_public_key_pem(pem).map_err(|e| malformed(e.to_string()))?
        }
        "RSA PUBLIC KEY" => {
            RsaPublicKey::from_pkcs1_pem(pem).map_err(|e| malformed(e.to_string()))?
        }
        _ => {
            return Err(KeyError::WrongLabel {
                origin,
                label,
                expected: "'PUBLIC KEY' (SPKI) or 'RSA PUBLIC KEY' (PKCS#1)",
            })
        }
    };
    check_bits(key.size() * 8, &origin)?;
    Ok(key)
}

fn check_bits(bits: usize, origin: &str) -> Result<(), KeyError> {
    if bits < MIN_KEY_BITS {
        return Err(KeyError::TooShort {
            origin: origin.to_owned(),
            bits,
        });
    }
    Ok(())
}

/// Load a private key from a PEM file.
pub fn load_private_key(path: &Path) -> Result<RsaPrivateKey, KeyError> {
    private_key_from_pem(&read(path)?, &path.display().to_string())
}

/// Load a public key from a PEM file.
pub fn load_public_key(path: &Path) -> Result<RsaPublicKey, KeyError> {
    public_key_from_pem(&read(path)?, &path.display().to_string())
}

/// A freshly generated key pair as PEM text.
pub struct GeneratedKeyPair {
    /// PKCS#8 private key PEM. Treat as a secret.
    pub private_pem: String,
    /// SubjectPublicKeyInfo public key PEM, to send to the provider.
    pub public_pem: String,
}

impl std::fmt::Debug for GeneratedKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKeyPair")
            .field("private_pem", &"[redacted]")
            .field("public_pem", &self.public_pem)
            .finish()
    }
}

/// Generate an RSA-2048 key pair.
pub fn generate_key_pair() -> Result<GeneratedKeyPair, KeyError> {
    let mut rng = rsa::rand_core::OsRng;
    let key = RsaPrivateKey::new(&mut rng, 2048).map_err(|e| KeyError::Generate(e.to_string()))?;
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))?
        .to_string();
    let public_pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    Ok(GeneratedKeyPair {
        private_pem,
        public_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_pem_is_named() {
        let err = private_key_from_pem("hello", "k.pem").unwrap_err();
        assert!(err.to_string().contains("k.pem: no PEM block"), "{err}");
    }

    #[test]
    fn public_key_where_private_expected() {
        let pair = generate_key_pair().unwrap();
        let err = private_key_from_pem(&pair.public_pem, "pub.pem").unwrap_err();
        assert!(err.to_string().contains("'PUBLIC KEY', expected"), "{err}");
    }

    #[test]
    fn generated_pair_round_trips() {
        let pair = generate_key_pair().unwrap();
        let private = private_key_from_pem(&pair.private_pem, "p").unwrap();
        let public = public_key_from_pem(&pair.public_pem, "q").unwrap();
        assert_eq!(private.to_public_key(), public);
        assert!(!format!("{pair:?}").contains("PRIVATE"));
    }

    #[test]
    fn encrypted_and_truncated_keys() {
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(
            private_key_from_pem(enc, "e"),
            Err(KeyError::Encrypted { .. })
        ));
        let bad = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            private_key_from_pem(bad, "b"),
            Err(KeyError::Malformed { .. })
        ));
    }

    #[test]
    fn missing_file_names_path() {
        let err = load_private_key(Path::new("/nonexistent/key.pem")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/key.pem"));
    }
}
