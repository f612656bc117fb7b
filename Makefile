# Thin wrappers around scripts/; the logic lives there.
#   make tools        install the dev tools into .tools/ (DynamoDB Local, cargo-lambda, cfn-lint)
#   make test         cfn-lint, rustfmt, clippy, cargo test against a private DynamoDB Local (what CI runs)
#   make run          DynamoDB Local on DDB_PORT (8000) + `cargo lambda watch` on 127.0.0.1:WATCH_PORT (9000)
#   make ddb-start    a standalone DynamoDB Local (on DDB_PORT if given, else a free port); make ddb-stop
#   make table        print the items of the `make run` table readably (ARGS='--json' or a pk prefix)
#   make package      the deployable zip (cargo-lambda, arm64 via zig; x86-64 if arm64 cannot be built)
#   make sam-validate `sam validate --lint` on template.yaml (installs aws-sam-cli into .tools/sam)
#   make bench, make fuzz DURATION=600: see mk/bench.mk, mk/fuzz.mk
#   make clean-tools  remove .tools/ and .run/
# Variables (make VAR=value or environment): DDB_PORT, WATCH_PORT, TABLE_NAME, SDKAPPID,
# CALLBACK_TOKEN, RUST_LOG; TOOLS="ddb python moto zig" (or all) for `make tools`; default ddb python moto.

SHELL := /bin/bash
TOOLS ?=

.PHONY: help tools test run table package sam-validate ddb-start ddb-stop ddb-status clean-tools

help:
	@sed -n '2,12p' Makefile | sed 's/^# \{0,1\}//'

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
	@scripts/tools.sh ddb
	@scripts/ddb-local.sh start $(DDB_PORT)

ddb-stop:
	@scripts/ddb-local.sh stop

ddb-status:
	@scripts/ddb-local.sh status

clean-tools:
	-@for d in .run/*/; do [[ -d $$d ]] && DDB_STATE_DIR=$$d scripts/ddb-local.sh stop; done; true
	-@for d in .run/*/; do [[ -d $$d ]] && SQS_STATE_DIR=$$d scripts/sqs-local.sh stop; done; true
	rm -rf .tools .run

# Benchmarks and fuzzing live in their own fragments.
-include mk/*.mk
