# Thin wrappers around scripts/ and benches/; the logic lives there.
#   make tools        install the dev tools into .tools/ (moto + waitress, cargo-lambda, cfn-lint)
#   make test         cfn-lint, rustfmt, clippy, cargo test against a private local DynamoDB and SQS
#                     (moto, scripts/moto_server.py; what CI runs)
#   make run          a local DynamoDB (moto) on DDB_PORT (8000) + `cargo lambda watch` on
#                     127.0.0.1:WATCH_PORT (9000)
#   make ddb-start    a standalone local DynamoDB (moto; on DDB_PORT if given, else a free port);
#                     make ddb-stop, make ddb-status
#   make table        print the items of the `make run` table readably (ARGS='--json' or a pk prefix)
#   make package      the deployable zip (cargo-lambda, arm64 via zig; x86-64 if arm64 cannot be built)
#   make sam-validate `sam validate --lint` on template.yaml (installs aws-sam-cli into .tools/sam)
#   make bench        criterion + the release binary and the floor (examples/floor.rs) through a
#                     Lambda Runtime API emulator, sizes: one table (BENCH_QUICK=1: a smoke run;
#                     BENCH_ZIP=arm64|x86_64|none; more in benches/run.sh)
#   make bench-ab BASE=<rev>  the release binaries of <rev> and of this tree and the floor,
#                     interleaved, 3 rounds: a table of medians with the change (benches/ab.sh)
#   make bench-hot    a campaign on one account through the DynamoDB contention model: the release
#                     binary's webhook and queue consumer, a fast local SQS; 150 events/s for 20 s
#                     at 15 ms and at 100 ms per transaction (benches/hot.sh, examples/bench_hot.rs)
#   make bench-profiles  release-profile variants, one full build each (benches/profiles.sh; slow)
#   make fuzz [DURATION=600]  coverage-guided fuzzing (scripts/fuzz.sh, fuzz/README.md);
#                     make fuzz-smoke: 30 s of an unoptimised build, no ASan: what `make test` runs
#   make clean-tools  remove .tools/ and .run/
# Variables (make VAR=value or environment): DDB_PORT, WATCH_PORT, TABLE_NAME, SDKAPPID,
# CALLBACK_TOKEN, RUST_LOG; TOOLS="python moto zig" (or all) for `make tools`; default python moto;
# BASE for `make bench-ab`; DURATION, FUZZ_SANITIZER=none, FUZZ_ARGS for `make fuzz`.

SHELL := /bin/bash
TOOLS ?=
DURATION ?= 600
BASE ?=

.PHONY: help tools test run table package sam-validate ddb-start ddb-stop ddb-status clean-tools \
	bench bench-ab bench-hot bench-profiles fuzz fuzz-smoke

# The header above, up to its first blank line.
help:
	@awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' Makefile

tools:
	scripts/tools.sh $(TOOLS)

test:
	scripts/test.sh

run:
	scripts/run.sh

table:
	@scripts/table.sh $(ARGS)

package:
	scripts/package.sh

sam-validate:
	scripts/tools.sh sam
	SAM_CLI_TELEMETRY=0 .tools/sam/bin/sam validate --lint --template template.yaml --region us-east-1

ddb-start:
	@scripts/tools.sh moto
	@scripts/local-service.sh ddb start $(DDB_PORT)

ddb-stop:
	@scripts/local-service.sh ddb stop

ddb-status:
	@scripts/local-service.sh ddb status

clean-tools:
	-@for d in .run/*/; do [[ -d $$d ]] && DDB_STATE_DIR=$$d scripts/local-service.sh ddb stop; done; true
	-@for d in .run/*/; do [[ -d $$d ]] && SQS_STATE_DIR=$$d scripts/local-service.sh sqs stop; done; true
	rm -rf .tools .run

bench:
	benches/run.sh

bench-ab:
	@[[ -n "$(BASE)" ]] || { echo 'usage: make bench-ab BASE=<rev>' >&2; exit 2; }
	benches/ab.sh $(BASE)

bench-hot:
	benches/hot.sh

bench-profiles:
	benches/profiles.sh

fuzz:
	scripts/fuzz.sh $(DURATION)

fuzz-smoke:
	FUZZ_BUILD=dev scripts/fuzz.sh 30
