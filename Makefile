# Thin wrapper over CMake for the README's two commands.
BUILD ?= build
SAMPLE ?= samples/configs/huggyllama--llama-7b.config.json
OUT ?= out

.PHONY: all setup build run test bench clean

all: build

setup:
	bash scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMT_WERROR=ON -DMT_ORACLE=ON >/dev/null
	cmake --build $(BUILD) -j 2

run: build
	mkdir -p $(OUT)
	$(BUILD)/metatrace $(SAMPLE)
	$(BUILD)/metatrace $(SAMPLE) -o $(OUT)/llama-7b.dot
	$(BUILD)/metatrace $(SAMPLE) -o $(OUT)/llama-7b.json
	@echo "make run: wrote $(OUT)/llama-7b.dot and $(OUT)/llama-7b.json"

test: build
	cd $(BUILD) && ctest --output-on-failure

bench: build
	$(BUILD)/mt_bench

clean:
	rm -rf $(BUILD) $(OUT)
