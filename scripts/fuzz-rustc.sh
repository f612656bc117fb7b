#!/usr/bin/env bash
# RUSTC_WRAPPER of the fuzz smoke's build (scripts/fuzz.sh, FUZZ_BUILD=dev): cargo calls it
# as `fuzz-rustc.sh RUSTC ARGS...` for every crate. It adds libFuzzer's coverage
# instrumentation (the flags `cargo fuzz` 0.13 puts in RUSTFLAGS for every crate) to this
# project's crate and the fuzz target only, so every dependency is compiled as the test
# build compiles it and is taken from target/ as that build left it (fuzz/README.md).
rustc=$1
shift
case " $* " in
*" --crate-name oa_webhook "* | *" --crate-name handle_event "*)
    exec "$rustc" "$@" \
        -Cpasses=sancov-module \
        -Cllvm-args=-sanitizer-coverage-level=4 \
        -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
        -Cllvm-args=-sanitizer-coverage-pc-table \
        -Cllvm-args=-sanitizer-coverage-trace-compares \
        -Cllvm-args=-sanitizer-coverage-stack-depth \
        -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
        --cfg fuzzing
    ;;
esac
exec "$rustc" "$@"
