PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA := $(abspath ../shared/data/senteval)
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
ifneq ($(wildcard $(SHARED_DATA)),)
export TRIPLEENTROPY_DATA ?= $(SHARED_DATA)
endif

.PHONY: setup test demo clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@
	@echo "Installed into $(VENV). To use tripleentropy in a shell: source $(VENV)/bin/activate"

test: setup
	$(BIN)/python -m pytest

# The main job: does TripleEntropy beat cross-entropy on SST-2 with few examples? About five
# minutes on two CPU cores; the report lands in runs/demo/report.md.
demo: setup
	$(BIN)/tripleentropy data fetch
	$(BIN)/tripleentropy compare --task SST2 --train-sizes 20,100 --seeds 3 --max-eval 500 --epochs 8 --output-dir runs/demo

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
