//! The showcase's driver, run in-process: every scenario matches its
//! expected shape, and each prints its tree.

use showcase::{Options, SCENARIOS, run, selected};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_scenario_matches_its_expected_shape() {
    let mut out = Vec::new();
    let report = run(&Options::default(), &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(report.failed.is_empty(), "{text}");
    // Skipped only without a server a scenario needs (A4: PostgreSQL), and
    // never under O11Y_REQUIRE_SERVICES=1.
    for (id, why) in &report.skipped {
        eprintln!("SKIPPED {id}: {why}");
    }
    let skipped: Vec<&str> = report.skipped.iter().map(|(id, _)| *id).collect();
    let all: Vec<&str> = SCENARIOS
        .iter()
        .map(|s| s.id)
        .filter(|id| !skipped.contains(id))
        .collect();
    assert_eq!(report.passed, all, "{text}");
    assert!(!text.contains('\x1b'), "plain text when colour is off");
    for scenario in SCENARIOS.iter().filter(|s| !skipped.contains(&s.id)) {
        let heading = format!("{} {}: ", scenario.id, scenario.title);
        let at = text
            .find(&heading)
            .unwrap_or_else(|| panic!("{heading} missing"));
        assert!(
            text[at..].contains("  trace "),
            "{} prints a tree",
            scenario.id
        );
    }
}

#[test]
fn an_unknown_scenario_is_an_error_naming_it() {
    let options = Options {
        scenario: Some("Z9".into()),
        ..Options::default()
    };
    let error = selected(&options).err().unwrap();
    assert!(error.contains("Z9"), "{error}");
    let options = Options {
        scenario: Some(" b10 ".into()),
        ..Options::default()
    };
    assert_eq!(selected(&options).unwrap()[0].id, "B10");
}
