# Benchmarks (issue #4); the Makefile includes this file.
#   make bench           criterion (no I/O) + the release binary through a Lambda Runtime API
#                        emulator against its own DynamoDB Local, binary and zip sizes: one
#                        table (also in target/bench/table.md). BENCH_QUICK=1 for a smoke run,
#                        BENCH_ZIP=arm64|x86_64|none; see bench/run.sh for the rest.
#   make bench-profiles  release-profile variants, one full build each (slow: ~5 min each);
#                        table in target/bench/profiles.md

.PHONY: bench bench-profiles

bench:
	bench/run.sh

bench-profiles:
	bench/profiles.sh
