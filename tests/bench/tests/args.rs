//! The benchmark's command line. Also makes the test build produce the benchmark binary with
//! the workspace's features, so the test command runs it without a second build of every crate.

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_billsync-bench"))
        .args(args)
        .output()
        .expect("the benchmark binary runs")
}

#[test]
fn an_unknown_flag_or_value_prints_the_usage_and_exits_2() {
    for args in [
        &["--no-such-flag"][..],
        &["--invoices", "many"],
        &["--invoice-path", "sideways"],
        &["--limits"],
    ] {
        let out = bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("usage: billsync-bench"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} started a run");
    }
}
