//! placeholder
use chromiumoxide as _;
#[test]
fn placeholder() {}
