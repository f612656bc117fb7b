# Fuzzing targets; the main Makefile includes this fragment (`include mk/fuzz.mk`).
#   make fuzz [DURATION=600]   coverage-guided fuzzing of the request-to-reply path for
#                              DURATION seconds (cargo fuzz / libFuzzer; see fuzz/README.md)
#   make fuzz-smoke            the same for 30 s: what `make test` runs
# FUZZ_SANITIZER=none turns AddressSanitizer off; FUZZ_ARGS passes flags to libFuzzer.

DURATION ?= 600

.PHONY: fuzz fuzz-smoke

fuzz:
	scripts/fuzz.sh $(DURATION)

fuzz-smoke:
	scripts/fuzz.sh 30
