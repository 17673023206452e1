# The command index. Each target is a thin wrapper; the scripts hold the logic.
.PHONY: help demo fmt lint test build sim billing-sim

help:
	@echo "make demo   - the main job end to end on the simulators (billsync demo)"
	@echo "make fmt    - format the code"
	@echo "make lint   - clippy with warnings as errors"
	@echo "make test   - the full test command (installs test tools, fmt check, lint, all tests)"
	@echo "make build  - the four Lambda functions for arm64 (cargo-lambda)"
	@echo "make sim    - run the NetSuite simulator on a loopback port with demo data"
	@echo "make billing-sim - run the Maxio simulator on a loopback port with a generated site"

demo:
	cargo run -p billsync-cli -- demo

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings

test:
	./scripts/test.sh

build:
	./scripts/build-lambdas.sh

sim:
	cargo run -p netsuite-sim -- --port 8787 --seed-demo

billing-sim:
	cargo run -p billing-sim -- --port 8788 --invoices 200
