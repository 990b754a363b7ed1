# Two user-facing targets: `make demo` and `make test`. Both create .venv when missing.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HOME := $(CURDIR)/.cache/huggingface
export HF_DATASETS_CACHE := $(CURDIR)/.cache/huggingface/datasets
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test setup clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned, so nothing pulls a CUDA build (SPEC §5)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[eval,test]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/atomlm demo

test: setup
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q

clean:
	rm -rf $(VENV) .cache
