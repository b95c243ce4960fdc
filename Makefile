# Set-up and entry points. Every target works in a project virtual environment ($(VENV), ignored
# by git) so that nothing is installed into the system Python (Debian/Ubuntu refuse that, PEP 668).
# torch 2.13.0 (the CPU build, on local disk) is installed first so that the `torch>=2.3`
# requirement never pulls a multi-GB CUDA build. `.ci/run` sets VENV to a brand-new folder.
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
PIP = $(BIN)/python -m pip
TORCH = torch==2.13.0

.PHONY: install install-test demo test test-slow bench docs

$(BIN)/python:
	$(PY) -m venv $(VENV)

# One stamp per extra set: re-installs only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[embedding,kokoro,piper]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[test,docs]"
	touch $@

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[bench]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# The main job: eSpeak NG corpus + Kokoro and Piper voices (training voices join training, dev
# voices pick the epoch), the speech_embedding TDNN and the log-mel TDNN beside it.
demo: install
	$(BIN)/tdnn recipe speech-commands --out runs/speech_commands --engines kokoro,piper

test: install-test
	$(BIN)/python -m pytest -q

test-slow: install-test
	$(BIN)/python -m pytest -q -m slow || [ $$? -eq 5 ]  # exit 5: no test is marked slow now

docs: install-test
	$(BIN)/python -m mkdocs build --strict

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/frontend.py
	$(BIN)/python bench/inference.py
