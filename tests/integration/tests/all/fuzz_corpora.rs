//! The fuzz targets' inputs replayed without a fuzzer: the seeds, the inputs kept from the
//! fuzzer's corpus (fuzz/kept), every input that once found a defect (fuzz/regressions), and a
//! local corpus when there is one (fuzz/corpus, not committed). A harness panics only when
//! billsync is wrong, so each input passing is the regression test.

use std::path::Path;

#[test]
fn every_kept_fuzz_input_passes_its_harness() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut replayed = 0;
    for (target, harness) in billsync::fuzzing::TARGETS {
        let mut seen = 0;
        for kind in ["seeds", "kept", "regressions", "corpus"] {
            let dir = fuzz.join(kind).join(target);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| harness(&data));
                assert!(outcome.is_ok(), "{target}: {} fails", path.display());
                seen += 1;
            }
        }
        assert!(seen > 0, "no input kept for {target}");
        replayed += seen;
    }
    println!("replayed {replayed} fuzz inputs");
}
