# Case Desk — everything a fresh clone needs goes through these targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Tests, benchmarks and screenshots draw offscreen; `make run` uses the real display.
OFFSCREEN := QT_QPA_PLATFORM=$(or $(QT_QPA_PLATFORM),offscreen)

.PHONY: install run test test-slow lint bench dist selftest screenshots clean lock

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/casedesk $(ARGS)

test: $(STAMP)
	.ci/system-packages
	$(OFFSCREEN) $(PY) -m pytest -q -p no:cacheprovider
	$(MAKE) lint

# The exhaustive sweeps: a kill before every statement of every first start and upgrade,
# and every amount of free space on a small disk (needs root to mount; CI runs it).
test-slow: $(STAMP)
	$(OFFSCREEN) $(PY) -m pytest -q -p no:cacheprovider -m exhaustive

lint: $(STAMP)
	$(VENV)/bin/ruff check desktop tests bench tools
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(OFFSCREEN) $(PY) -m bench

dist: $(STAMP)
	$(VENV)/bin/pyinstaller --noconfirm --clean build.spec

screenshots: $(STAMP)
	$(OFFSCREEN) $(PY) -m tools.screenshots docs/screenshots

clean:
	rm -rf build dist

# Regenerate the pinned lock file after changing dependencies in pyproject.toml.
lock:
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
