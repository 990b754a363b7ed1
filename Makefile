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
# Exported models are loaded by users with transformers 4.x too: the oldest and newest 4.x release
# tested, pinned in requirements/transformers-<release>.txt.
TRANSFORMERS4_DIR := .cache/transformers-4
TRANSFORMERS4_RELEASES := 4.46 4.57
empty :=
space := $(empty) $(empty)
TRANSFORMERS4_PATHS := $(subst $(space),:,$(foreach release,$(TRANSFORMERS4_RELEASES),$(CURDIR)/$(TRANSFORMERS4_DIR)/$(release)/site-packages))

.PHONY: demo test test-lowest test-latest test-transformers4 lock setup clean

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

# -n auto: one pytest-xdist worker per core, each single-threaded (OMP_NUM_THREADS=1): most tests
# are one-threaded processes, and torch's own threads on top oversubscribe the cores (7.5 min
# instead of 5 on 2 cores; the tiny-model tests slow down fivefold); --durations: the log names
# the slowest tests (budget ~15 minutes).
test: setup
	$(OFFLINE) OMP_NUM_THREADS=1 $(PY) -m pytest -q -n auto --durations=25

# The lowest transformers pyproject.toml allows (pinned in requirements/lowest.txt), with the
# lock's versions of everything else it needs. Run by CI.
test-lowest: setup
	rm -rf $(LOWEST_DIR) && mkdir -p $(LOWEST_DIR)
	grep -viE '^(transformers|tokenizers|huggingface[-_]hub)==' $(LOCK) > $(LOWEST_DIR)/constraints.txt
	$(PY) -m pip install --quiet --target $(LOWEST_DIR)/site-packages \
		-c $(LOWEST_DIR)/constraints.txt -r requirements/lowest.txt
	PYTHONPATH=$(CURDIR)/$(LOWEST_DIR)/site-packages $(OFFLINE) $(PY) -m pytest -q -m huggingface -p no:cacheprovider

# An export, loaded by a user with transformers 4.x (no atomlm), gives today's logits, tokens and
# answers. Each release goes into its own target directory; the test runs them in subprocesses.
# Run by CI.
test-transformers4: setup
	rm -rf $(TRANSFORMERS4_DIR) && mkdir -p $(TRANSFORMERS4_DIR)
	grep -viE '^(transformers|tokenizers|huggingface[-_]hub)==' $(LOCK) > $(TRANSFORMERS4_DIR)/constraints.txt
	for release in $(TRANSFORMERS4_RELEASES); do \
		$(PY) -m pip install --quiet --target $(TRANSFORMERS4_DIR)/$$release/site-packages \
			-c $(TRANSFORMERS4_DIR)/constraints.txt -r requirements/transformers-$$release.txt || exit 1; \
	done
	ATOMLM_TRANSFORMERS4_PATHS=$(TRANSFORMERS4_PATHS) $(OFFLINE) $(PY) -m pytest -q -p no:cacheprovider \
		tests/modeling/test_export.py -k transformers_4

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
