# Makefile — the README's two quick-start commands and conveniences around meson.
#   make demo    installs what is missing, builds, runs the flagship job (jobs/demo.yaml)
#   make check   installs what is missing, builds, runs every test suite
#   make asan    the unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz    each libFuzzer target for FUZZ_SECONDS (clang)
#   make bench   the benchmarks in tests/bench (figures, not pass/fail)
SHELL := /bin/bash
BUILD ?= build
FUZZ_SECONDS ?= 20
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

.PHONY: all deps build demo check asan fuzz bench clean
all: build

deps:
	@./deploy/install-deps.sh

build: deps
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD)
	@ninja -C $(BUILD)

demo: build
	$(BUILD)/runtime/runnel run jobs/demo.yaml

check: build
	meson test -C $(BUILD) --print-errorlogs

asan: deps
	@test -f build-asan/build.ninja || meson setup build-asan -Db_sanitize=address,undefined
	@ninja -C build-asan
	$(SAN_ENV) meson test -C build-asan --suite unit --suite runtime --suite integration --print-errorlogs

fuzz: deps
	@test -f build-fuzz/build.ninja || CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address -Dtests=false
	@ninja -C build-fuzz
	@for t in expr_parse batch_decode jsonl csv jobspec checkpoint_meta opstate config net_frame rpc_decode json_parse kafka_state; do \
	  work=$$(mktemp -d); \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  build-fuzz/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$$work/ $$work tests/fuzz/corpus/$$t 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' ; \
	  status=$${PIPESTATUS[0]}; rm -rf $$work; [ $$status -eq 0 ] || exit $$status; \
	done

bench: build
	$(BUILD)/tests/bench/bench_expr
	$(BUILD)/tests/bench/bench_nexmark
	$(BUILD)/tests/bench/bench_textfmt
	$(BUILD)/tests/bench/bench_state
	tests/bench/nexmark.sh $(BUILD)
	tests/bench/ktw.sh $(BUILD)
	tests/bench/checkpoint.sh $(BUILD)
	tests/bench/cluster.sh $(BUILD)
	tests/bench/recovery.sh $(BUILD)
	tests/bench/kafka.sh $(BUILD)

clean:
	rm -rf build build-asan build-fuzz
