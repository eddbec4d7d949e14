//! The JSON layer with the writers a service uses: a file, and the
//! non-blocking writer in front of any writer.

mod support;

use std::{fs, sync::Mutex};

use o11y_log::NonBlocking;
use support::Output;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn writes_a_file() {
    let path = std::env::temp_dir().join(format!("o11y-log-{}.jsonl", std::process::id()));
    let file = fs::File::create(&path).unwrap();
    let layer = support::json_layer(&Output::default()).with_writer(Mutex::new(file));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!(n = 1, "to a file");
        tracing::error!(n = 2, "again");
    });
    let text = fs::read_to_string(&path).unwrap();
    fs::remove_file(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["message"], "to a file");
    assert_eq!(lines[1]["level"], "ERROR");
    assert_eq!(lines[1]["n"], 2);
}

#[test]
fn non_blocking_keeps_every_line_whole_across_threads() {
    let out = Output::default();
    let (writer, guard) = NonBlocking::new(out.clone()).unwrap();
    let layer = support::json_layer(&out).with_writer(writer.clone());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..250 {
                        tracing::info!(thread, i, text = "x\ny", "line");
                    }
                });
            });
        }
    });
    drop(guard);
    let lines = out.lines();
    assert_eq!(lines.len(), 1000);
    assert_eq!(writer.dropped(), 0);
    for thread in 0..4 {
        let mine: Vec<_> = lines.iter().filter(|l| l["thread"] == thread).collect();
        assert_eq!(mine.len(), 250);
        assert_eq!(mine[249]["i"], 249, "lines of one thread stay in order");
    }
}
