//! Compile tests: what must expand and run, and the errors misuse gets.
//! Regenerate the expected messages with `TRYBUILD=overwrite` and read them.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
