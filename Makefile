# Thin wrappers; everything installs itself from nothing on a fresh clone.
PYTHON_VERSION ?= 3.12.1
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYENV_VERSION := $(PYTHON_VERSION):3.11.7

.PHONY: venv dev test lint build invoke bench openapi docs clean

$(STAMP): pyproject.toml layers/common/requirements.txt layers/common/tracing-requirements.txt
	@command -v pyenv >/dev/null 2>&1 && PY_BIN=$$(pyenv which python3.12) || PY_BIN=$$(command -v python3.12); \
	  test -x "$$PY_BIN" || { echo "python3.12 not found"; exit 1; }; \
	  test -x $(PY) || "$$PY_BIN" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r layers/common/requirements.txt -r layers/common/tracing-requirements.txt --group dev
	touch $(STAMP)

venv: $(STAMP)

dev: $(STAMP)
	$(PY) -m tests.local.stack

# The browser tests drive Debian's Chromium (Playwright never downloads a browser): installed once, as root or via sudo.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# pytest workers: three more than the cores. Most tests spend their time waiting (retry schedules, leases, servers
# answering): on 2 cores, 3 workers took 5 min 15 s to 5 min 29 s, 4 took 4 min 46 s and 5 took 4 min 24 s (with the
# local-stack tests in two groups, each on a stack of its own), and 5 still pass beside three CPU-bound processes.
TEST_WORKERS ?= $(shell echo $$(($$(nproc) + 3)))

test: $(STAMP) $(CHROMIUM)
	$(PY) -m ruff check .
	$(PY) -m mypy layers/common functions tests
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

build: $(STAMP)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/sam build --parallel

invoke: $(STAMP)
	$(PY) -m tests.local.invoke $(FUNCTION) $(EVENT)

bench: $(STAMP)
	$(PY) -m tests.bench $(if $(BENCH_ACTION),--action $(BENCH_ACTION)) $(if $(BENCH_EVENT),--event $(BENCH_EVENT))

openapi: $(STAMP)
	$(PY) -m tests.local.openapi --write

docs: openapi
	$(PY) -m tests.local.provider_docs --write

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
