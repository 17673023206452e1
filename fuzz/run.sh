#!/usr/bin/env bash
# Runs billsync's fuzz targets with cargo-fuzz (libFuzzer) on the stable toolchain.
#
#   bash fuzz/run.sh                 # every target, 600 s each, two at a time
#   bash fuzz/run.sh 60 allocation   # one target for a minute
#
# cargo-fuzz passes flags stable rustc accepts only with RUSTC_BOOTSTRAP=1; no sanitizer is
# used (billsync has no unsafe code of its own; libFuzzer's coverage and crash detection are
# what the targets need). Each run starts from fuzz/seeds/<target> and the local corpus
# fuzz/corpus/<target>, then keeps the smallest inputs of an edge-covering subset in
# fuzz/kept/<target> (committed, replayed by the test command), and leaves a crash's input in
# fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/ once fixed, and the test
# command replays it for ever (tests/integration/tests/all/fuzz_corpora.rs).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
# Inputs kept per target in the repository.
KEEP=100
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(maxio_webhook chargebee_webhook settings secrets maxio_invoice chargebee_invoice allocation)
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do cargo fuzz build -s none "$t"; done

run() {
  local t="$1"
  mkdir -p "corpus/$t" "seeds/$t"
  cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$seconds" -print_final_stats=1 \
    > "logs/$t.log" 2>&1 || { echo "$t: CRASH (see fuzz/logs/$t.log and fuzz/artifacts/$t/)"; return 1; }
  local runs
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo "?")
  # Keep in the repository the smallest inputs of an edge-covering subset (the whole corpus,
  # fuzz/corpus, stays local: it runs to megabytes).
  local edges
  edges=$(mktemp -d)
  cargo fuzz run -s none "$t" "$edges" "corpus/$t" -- -merge=1 -use_counters=0 > /dev/null 2>&1 || true
  rm -rf "kept/$t" && mkdir -p "kept/$t"
  local files
  mapfile -t files < <(ls -S -r "$edges")
  for f in "${files[@]:0:KEEP}"; do cp "$edges/$f" "kept/$t/"; done
  rm -rf "$edges"
  echo "$t: ${runs} executions in ${seconds} s, 0 crashes, corpus $(ls "corpus/$t" | wc -l) inputs, $(ls "kept/$t" | wc -l) kept"
}

mkdir -p logs
failed=0
# Two at a time: one per core of a small machine.
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  pids=()
  for t in "${targets[@]:i:2}"; do
    run "$t" &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
  done
done
exit "$failed"
