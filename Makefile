# `make run` opens the app on the bundled sample images; `make test` runs the test suite.
# Both create .venv (or refresh it when pyproject.toml changed) before running.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	# Test-only oracle for MobileSAM. --no-deps: its timm/torchvision requirements would
	# pull another torch; tests/oracle.py stands in for the few helpers it uses.
	$(PY) -m pip install --quiet --no-deps mobilesam-mirror==1.0.0
	# Test-only oracle for SAM 2 (an sdist; its CUDA extension is optional and not built).
	# --no-deps: torchvision would pull another torch; tests/oracle.py stands in for it.
	SAM2_BUILD_CUDA=0 $(PY) -m pip install --quiet --no-build-isolation --no-deps sam2==1.1.0
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/sam-annotator resources/samples

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
