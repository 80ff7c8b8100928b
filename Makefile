# Thin wrapper over CMake for the README's two commands.
#   make run   sets up and builds only what the CLI needs (no test programs, no
#              libtorch) in $(RUN_BUILD), then traces the sample
#   make test  sets up the test dependencies too and runs every test in $(BUILD)
#   make fuzz  runs each fuzz target for FUZZ_SECONDS (tests/fuzz/run.sh)
BUILD ?= build
RUN_BUILD ?= build-run
SAMPLE ?= samples/configs/huggyllama--llama-7b.config.json
OUT ?= out

.PHONY: all setup setup-run build build-run run test bench fuzz clean

all: build

setup:
	bash scripts/setup.sh test

setup-run:
	bash scripts/setup.sh run

build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMT_WERROR=ON -DMT_TESTS=ON -DMT_ORACLE=ON >/dev/null
	cmake --build $(BUILD) -j 2

build-run: setup-run
	cmake -S . -B $(RUN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMT_TESTS=OFF -DMT_ORACLE=OFF >/dev/null
	cmake --build $(RUN_BUILD) -j 2 --target metatrace_cli

run: build-run
	mkdir -p $(OUT)
	$(RUN_BUILD)/metatrace $(SAMPLE)
	$(RUN_BUILD)/metatrace $(SAMPLE) -o $(OUT)/llama-7b.dot
	$(RUN_BUILD)/metatrace $(SAMPLE) -o $(OUT)/llama-7b.json
	@echo "make run: wrote $(OUT)/llama-7b.dot and $(OUT)/llama-7b.json"

test: build
	cd $(BUILD) && ctest --output-on-failure

bench: build
	$(BUILD)/mt_bench
	sh tests/bench/sizing-share.sh $(BUILD)/mt_bench

# libFuzzer targets (tests/fuzz/) for FUZZ_SECONDS each, in a clang tree of their own
FUZZ_SECONDS ?= 600
fuzz: setup
	bash tests/fuzz/run.sh $(BUILD)/fuzz $(CURDIR) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(RUN_BUILD) $(OUT)
