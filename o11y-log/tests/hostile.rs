//! Every line is valid JSON whatever the fields hold.

mod support;

use o11y_log::TRUNCATED;
use proptest::prelude::*;
use support::Output;
use tracing_subscriber::layer::SubscriberExt;

fn emit(out: &Output, max: usize, f: impl FnOnce()) {
    let layer = support::json_layer(out)
        .with_max_value_len(max)
        .with_current_span(true);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
}

#[derive(Debug)]
struct Nasty;

impl std::fmt::Display for Nasty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"}\n{\"level\":\"forged\u{0}")
    }
}

impl std::error::Error for Nasty {}

#[test]
fn control_characters_quotes_bytes_floats_and_errors() {
    let out = Output::default();
    let raw: &[u8] = b"ok\xff\xfe\n";
    emit(&out, 1024, || {
        let _span = tracing::info_span!("s\"pan\n", v = "a\u{1}b").entered();
        tracing::info!(
            text = "line1\nline2\t\"quoted\" \\ \u{0}\u{7}\u{1b}[31m \u{2028}",
            debug = ?"dbg\"\n",
            display = %Nasty,
            error = &Nasty as &(dyn std::error::Error + 'static),
            nan = f64::NAN,
            inf = f64::INFINITY,
            neg = f64::NEG_INFINITY,
            big = u128::MAX,
            small = i128::MIN,
            bytes = raw,
            "msg \"with\"\r\nnewline"
        );
    });
    let line = out.line();
    assert_eq!(
        line["text"],
        "line1\nline2\t\"quoted\" \\ \u{0}\u{7}\u{1b}[31m \u{2028}"
    );
    assert_eq!(line["debug"], "\"dbg\\\"\\n\"");
    assert_eq!(line["display"], "\"}\n{\"level\":\"forged\u{0}");
    assert_eq!(line["error"], "\"}\n{\"level\":\"forged\u{0}");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["nan"], "NaN");
    assert_eq!(line["inf"], "inf");
    assert_eq!(line["neg"], "-inf");
    // serde_json reads these as floats; the text holds every digit.
    assert!(line["big"].is_number() && line["small"].is_number());
    let text = out.text();
    assert!(text.contains(&format!("\"big\":{},", u128::MAX)), "{text}");
    assert!(
        text.contains(&format!("\"small\":{},", i128::MIN)),
        "{text}"
    );
    assert_eq!(line["bytes"], "ok\u{fffd}\u{fffd}\n");
    assert_eq!(line["message"], "msg \"with\"\r\nnewline");
    assert_eq!(line["span"]["name"], "s\"pan\n");
    assert_eq!(line["span"]["v"], "a\u{1}b");
}

#[test]
fn huge_values_are_cut_with_a_marker() {
    let out = Output::default();
    let huge = "é".repeat(100_000);
    emit(
        &out,
        101,
        || tracing::info!(huge = %huge, plain = huge.as_str(), "{huge}"),
    );
    let line = out.line();
    let cut = format!("{}{TRUNCATED}", "é".repeat(50));
    assert_eq!(line["huge"], cut.as_str());
    assert_eq!(line["plain"], cut.as_str());
    assert_eq!(line["message"], cut.as_str());
}

proptest! {
    #[test]
    fn any_string_round_trips(key in "\\PC{0,8}", value in any::<String>(), bytes in any::<Vec<u8>>()) {
        let out = Output::default();
        emit(&out, 1 << 20, || tracing::info!(value = value.as_str(), debug = ?value, bytes = bytes.as_slice(), "{key}"));
        let line = out.line();
        prop_assert_eq!(line["value"].as_str(), Some(value.as_str()));
        let debug = format!("{value:?}");
        let lossy = String::from_utf8_lossy(&bytes);
        prop_assert_eq!(line["debug"].as_str(), Some(debug.as_str()));
        prop_assert_eq!(line["bytes"].as_str(), Some(lossy.as_ref()));
        prop_assert_eq!(line["message"].as_str(), Some(key.as_str()));
    }

    #[test]
    fn any_float_is_valid_json(x in any::<f64>()) {
        let out = Output::default();
        emit(&out, 64, || tracing::info!(x));
        let line = out.line();
        if x.is_finite() {
            // serde_json's default float parser may be off by one ulp; Rust's is exact.
            prop_assert!(line["x"].is_number());
            let text = out.text();
            let token = text.split("\"x\":").nth(1).and_then(|t| t.split('}').next());
            prop_assert_eq!(token.map(|t| t.parse::<f64>()), Some(Ok(x)));
        } else {
            prop_assert!(line["x"].is_string());
        }
    }
}
