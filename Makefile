# The two entry points of the README, plus the steps they are made of.
# Real build logic lives in CMakeLists.txt; this file only sequences set-up.
#   make demo   install deps, fetch models, build, run on the sample gallery
#   make check  install deps, fetch models, build with ASan+UBSan, run tests
#   make fuzz   build the libFuzzer targets with clang (see README, Fuzzing)
#   make check-core  the core library alone (every FK_WITH_* option OFF,
#               Release): build it and run the tests it has (CI's second job)
JOBS ?= $(shell nproc)
BUILD ?= build
SAN_BUILD ?= build-san
FUZZ_BUILD ?= build-fuzz
CORE_BUILD ?= build-core
CORE_OFF = -DFK_WITH_POSTGRES=OFF -DFK_WITH_FAISS=OFF -DFK_WITH_VIDEO=OFF -DFK_WITH_SERVER=OFF

.PHONY: all deps models build build-san build-core check check-core demo bench fuzz fuzz-seeds clean

all: build

deps:
	@bash tools/deps.sh

models: deps
	@bash tools/fetch-models.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-san: deps
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFK_SANITIZE=ON >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS)

check: models build-san
	@cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

build-core: deps
	@cmake -S . -B $(CORE_BUILD) -DCMAKE_BUILD_TYPE=Release -DFK_SANITIZE=OFF $(CORE_OFF) >/dev/null
	@cmake --build $(CORE_BUILD) -j $(JOBS)

check-core: models build-core
	@cd $(CORE_BUILD) && ctest --output-on-failure -j $(JOBS)

demo: models build
	@bash tools/demo.sh $(BUILD)/facekit

bench: models build
	@$(BUILD)/bench_pipeline

fuzz:
	@bash tools/deps.sh fuzz
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFK_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers

# Rewrites the generated seeds in tests/fuzz/*/corpus (fuzzer finds are kept).
fuzz-seeds: build
	@$(BUILD)/fuzz_make_seeds tests/fixtures tests/fuzz

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD) $(CORE_BUILD)
