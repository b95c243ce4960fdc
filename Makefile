# Set-up and entry points. torch 2.13.0 (CPU build, on local disk) is installed first so that
# the `torch>=2.3` requirement never pulls a multi-GB CUDA build.
PY ?= python3
PIP = $(PY) -m pip

.PHONY: install install-test demo test test-slow bench docs

install:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .

install-test:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[test,docs]"

demo: install
	tdnn recipe speech-commands --out runs/speech_commands

test: install-test
	$(PY) -m pytest -q

test-slow: install-test
	$(PY) -m pytest -q -m slow || [ $$? -eq 5 ]  # exit 5: no test is marked slow now

docs: install-test
	$(PY) -m mkdocs build --strict

bench: install
	$(PIP) install -q -e ".[bench]"
	$(PY) bench/frontend.py
	$(PY) bench/inference.py
