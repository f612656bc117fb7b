# Thin wrappers around scripts/; the logic lives there.
#   make tools        install the dev tools into .tools/ (DynamoDB Local, cargo-lambda, cfn-lint)
#   make test         cfn-lint, rustfmt, clippy, cargo test against a private DynamoDB Local (what CI runs)
#   make run          DynamoDB Local on DDB_PORT (8000) + `cargo lambda watch` on 127.0.0.1:WATCH_PORT (9000)
#   make ddb-start    a standalone DynamoDB Local (on DDB_PORT if given, else a free port); make ddb-stop
#   make clean-tools  remove .tools/ and .run/
# Variables (make VAR=value or environment): DDB_PORT, WATCH_PORT, TABLE_NAME, SDKAPPID,
# CALLBACK_TOKEN, RUST_LOG; TOOLS="ddb python zig" (or all) for `make tools`; default ddb python.

SHELL := /bin/bash
TOOLS ?=

.PHONY: help tools test run ddb-start ddb-stop ddb-status clean-tools

help:
	@sed -n '2,8p' Makefile | sed 's/^# \{0,1\}//'

tools:
	scripts/tools.sh $(TOOLS)

test:
	scripts/test.sh

run:
	scripts/run.sh

ddb-start:
	@scripts/tools.sh ddb
	@scripts/ddb-local.sh start $(DDB_PORT)

ddb-stop:
	@scripts/ddb-local.sh stop

ddb-status:
	@scripts/ddb-local.sh status

clean-tools:
	-@for d in .run/*/; do [[ -d $$d ]] && DDB_STATE_DIR=$$d scripts/ddb-local.sh stop; done; true
	rm -rf .tools .run
