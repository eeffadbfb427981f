//! The bank directory (`data/banks.csv`): a producer names a bank once — by its
//! Bank Indonesia code, its BIC or its NICEPAY code — and each provider gets the
//! code its documents ask for. The file cites its sources.

use std::sync::OnceLock;

use crate::domain::FieldError;

/// Which code a provider's documents ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BankScheme {
    /// The 3-digit Bank Indonesia code (`014`).
    BankIndonesia,
    /// The 8-character BIC (`CENAIDJA`).
    Swift,
    /// NICEPAY's 4-character code (`CENA`).
    Nicepay,
}

impl BankScheme {
    fn label(self) -> &'static str {
        match self {
            BankScheme::BankIndonesia => "Bank Indonesia code",
            BankScheme::Swift => "SWIFT code",
            BankScheme::Nicepay => "NICEPAY bank code",
        }
    }
}

/// One bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bank {
    pub bi_code: String,
    pub name: String,
    pub swift: Option<String>,
    pub nicepay: Option<String>,
}

impl Bank {
    pub fn code(&self, scheme: BankScheme) -> Option<&str> {
        match scheme {
            BankScheme::BankIndonesia => Some(self.bi_code.as_str()),
            BankScheme::Swift => self.swift.as_deref(),
            BankScheme::Nicepay => self.nicepay.as_deref(),
        }
    }
}

const DATA: &str = include_str!("../data/banks.csv");

/// Parse the directory; an error names the line.
pub fn parse(text: &str) -> Result<Vec<Bank>, String> {
    let mut out = Vec::new();
    let mut header = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !header {
            if line != "bi_code,name,swift,nicepay" {
                return Err(format!(
                    "line {}: expected the header bi_code,name,swift,nicepay",
                    i + 1
                ));
            }
            header = true;
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [bi, name, swift, nicepay] = cols[..] else {
            return Err(format!("line {}: expected 4 columns", i + 1));
        };
        let ok = bi.len() == 3
            && bi.bytes().all(|b| b.is_ascii_digit())
            && !name.is_empty()
            && (swift.is_empty()
                || (swift.len() == 8 && swift.bytes().all(|b| b.is_ascii_alphanumeric())))
            && (nicepay.is_empty()
                || (nicepay.len() == 4 && nicepay.bytes().all(|b| b.is_ascii_alphanumeric())));
        if !ok {
            return Err(format!(
                "line {}: bi_code is 3 digits, swift 8 letters or digits, nicepay 4, name not empty",
                i + 1
            ));
        }
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        out.push(Bank {
            bi_code: bi.to_owned(),
            name: name.to_owned(),
            swift: opt(swift),
            nicepay: opt(nicepay),
        });
    }
    Ok(out)
}

/// The directory shipped with kirim (empty, with an error logged, if the file
/// were malformed; a test keeps it well-formed).
pub fn directory() -> &'static [Bank] {
    static BANKS: OnceLock<Vec<Bank>> = OnceLock::new();
    BANKS.get_or_init(|| {
        parse(DATA).unwrap_or_else(|e| {
            tracing::error!(error = %e, "data/banks.csv is malformed; bank codes pass through unchanged");
            Vec::new()
        })
    })
}

/// The bank a code names, in any scheme (case-insensitive for letters).
pub fn find<'a>(banks: &'a [Bank], code: &str) -> Option<&'a Bank> {
    let code = code.trim();
    banks.iter().find(|b| {
        b.bi_code == code
            || b.swift
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(code))
            || b.nicepay
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(code))
    })
}

/// The code `provider` must receive for the bank `given` names. A bank the
/// directory does not know passes through unchanged (the provider's own field
/// rules still apply at the door); a known bank without a code for this scheme
/// is refused, naming the bank.
pub fn translate(
    banks: &[Bank],
    given: &str,
    scheme: BankScheme,
    provider: &str,
    field: &str,
) -> Result<String, FieldError> {
    let Some(bank) = find(banks, given) else {
        return Ok(given.to_owned());
    };
    bank.code(scheme).map(str::to_owned).ok_or_else(|| {
        FieldError::new(
            field,
            format!(
                "{} has no {} in kirim's bank directory (data/banks.csv), which {provider} needs",
                bank.name,
                scheme.label()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_directory_is_well_formed_and_unique() {
        let banks = parse(DATA).expect("data/banks.csv parses");
        assert!(banks.len() >= 10);
        let mut seen = std::collections::HashSet::new();
        for b in &banks {
            for code in [
                Some(b.bi_code.as_str()),
                b.swift.as_deref(),
                b.nicepay.as_deref(),
            ]
            .into_iter()
            .flatten()
            {
                assert!(seen.insert(code.to_ascii_uppercase()), "{code} twice");
            }
        }
    }

    #[test]
    fn one_identity_many_codes() {
        let banks = directory();
        for given in ["014", "CENAIDJA", "cena"] {
            assert_eq!(
                translate(banks, given, BankScheme::BankIndonesia, "x", "f").unwrap(),
                "014"
            );
            assert_eq!(
                translate(banks, given, BankScheme::Swift, "x", "f").unwrap(),
                "CENAIDJA"
            );
            assert_eq!(
                translate(banks, given, BankScheme::Nicepay, "x", "f").unwrap(),
                "CENA"
            );
        }
        // Unknown banks pass through for the provider's own rules to judge.
        assert_eq!(
            translate(banks, "999", BankScheme::Nicepay, "x", "f").unwrap(),
            "999"
        );
    }

    #[test]
    fn a_known_bank_without_a_code_is_refused_by_name() {
        let banks = parse("bi_code,name,swift,nicepay\n777,Bank Contoh,,\n").unwrap();
        let e = translate(
            &banks,
            "777",
            BankScheme::Nicepay,
            "nicepay",
            "beneficiary.bankCode",
        )
        .unwrap_err();
        assert_eq!(e.field, "beneficiary.bankCode");
        assert!(
            e.rule.contains("Bank Contoh") && e.rule.contains("nicepay"),
            "{}",
            e.rule
        );
    }

    #[test]
    fn malformed_rows_are_named() {
        assert!(parse("bi_code,name,swift,nicepay\n14,BCA,CENAIDJA,CENA\n")
            .unwrap_err()
            .contains("line 2"));
        assert!(parse("nope\n").is_err());
    }
}
