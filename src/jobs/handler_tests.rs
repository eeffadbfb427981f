//! Unit tests of the handler's pure helpers.

use super::names_match;

#[test]
fn name_matching_ignores_case_spacing_punctuation_and_truncation() {
    assert!(names_match("Budi  Santoso", "BUDI SANTOSO"));
    assert!(names_match("Budi Santoso, S.Kom", "BUDI SANTOSO SKOM"));
    assert!(names_match(
        "Muhammad Abdurrahman Wahid",
        "MUHAMMAD ABDURRAHMAN"
    ));
    assert!(!names_match("Budi Santoso", "SITI AMINAH"));
    assert!(!names_match("", "SITI"));
    assert!(!names_match("Bud", "BUDI SANTOSO"), "whole words only");
}
