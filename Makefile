# Two user-facing targets: `make demo` and `make test`. Both create .venv when missing and install
# the exact versions in requirements/lock.txt.
VENV ?= .venv
PY := $(VENV)/bin/python
LOCK := requirements/lock.txt
EXTRAS := train,eval,test,report
PIP_VERSION := 26.3
export HF_HOME := $(CURDIR)/.cache/huggingface
export HF_DATASETS_CACHE := $(CURDIR)/.cache/huggingface/datasets
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip
export ATOMLM_CACHE_DIR := $(CURDIR)/.cache/atomlm
export TOKENIZERS_PARALLELISM := false
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
# Other transformers releases go into their own target directories, layered over .venv with
# PYTHONPATH so they reuse its torch; only the Hugging Face-facing tests run against them.
LOWEST_DIR := .cache/transformers-lowest
LATEST_DIR := .cache/transformers-latest

.PHONY: demo test test-lowest test-latest lock setup clean

$(VENV)/.installed: pyproject.toml $(LOCK)
	@python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || test -x $(PY) || { \
	  echo "atomlm needs Python 3.11 or newer (python3 is $$(python3 --version 2>&1)); put one first on PATH" >&2; \
	  exit 2; }
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet pip==$(PIP_VERSION)
	# torch first, pinned: on this kind of machine that takes the CPU build on disk, so nothing pulls a CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c $(LOCK) -e ".[$(EXTRAS)]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/atomlm demo

test: setup
	$(OFFLINE) $(PY) -m pytest -q

# The lowest transformers pyproject.toml allows (pinned in requirements/lowest.txt), with the
# lock's versions of everything else it needs. Run by CI.
test-lowest: setup
	rm -rf $(LOWEST_DIR) && mkdir -p $(LOWEST_DIR)
	grep -viE '^(transformers|tokenizers|huggingface[-_]hub)==' $(LOCK) > $(LOWEST_DIR)/constraints.txt
	$(PY) -m pip install --quiet --target $(LOWEST_DIR)/site-packages \
		-c $(LOWEST_DIR)/constraints.txt -r requirements/lowest.txt
	PYTHONPATH=$(CURDIR)/$(LOWEST_DIR)/site-packages $(OFFLINE) $(PY) -m pytest -q -m huggingface -p no:cacheprovider

# The newest transformers release, on demand (not in CI): run it before `make lock`.
test-latest: setup
	rm -rf $(LATEST_DIR) && mkdir -p $(LATEST_DIR)
	$(PY) -m pip install --quiet --target $(LATEST_DIR)/site-packages --upgrade transformers tokenizers huggingface_hub
	PYTHONPATH=$(CURDIR)/$(LATEST_DIR)/site-packages $(OFFLINE) $(PY) -m pytest -q -m huggingface -p no:cacheprovider

# Refresh the lock: the newest releases pyproject.toml allows, installed into a fresh venv.
# Then run `make test` (and `make test-lowest`) and commit requirements/lock.txt if they pass.
lock:
	rm -rf .cache/lock-venv && python3 -m venv .cache/lock-venv
	.cache/lock-venv/bin/python -m pip install --quiet pip==$(PIP_VERSION) torch==2.13.0
	.cache/lock-venv/bin/python -m pip install --quiet -e ".[$(EXTRAS)]"
	# Local version labels (torch's "+cpu") name a build PyPI does not serve: a lock pinning one
	# could not be installed anywhere else. "==2.13.0" still matches the +cpu build installed here.
	.cache/lock-venv/bin/python -m pip freeze --exclude-editable | sed -E 's/^([^=]+==[^+]+)\+.*$$/\1/' > $(LOCK)
	rm -rf .cache/lock-venv

clean:
	rm -rf $(VENV) .cache
