# nen-bayes: `make run` (set up, then the main job on the bundled cohort) and `make test`.
# PYTHON=/path/to/python3.12 overrides the interpreter search (tools/find-python.sh).
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUNDLED := nen_bayes/data/synthetic_cohort.csv
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: run study test test-slow lint docs venv clean help
help:
	@echo "make run        set up, then run the whole reanalysis of the bundled (synthetic) cohort"
	@echo "make study      set up, then a short calibration (SBC) of the headline model on Dask"
	@echo "make test       set up, then run the fast test tier"
	@echo "make test-slow  set up, then run the seeded statistical tier"
	@echo "make lint       ruff over the project"
	@echo "make docs       set up (with the docs extra), then build the documentation into docs/_build/html"

$(PY):
	@py="$$(PYTHON='$(PYTHON)' tools/find-python.sh)" || exit 1; \
	echo "creating $(VENV) with $$py ($$($$py -V))"; \
	"$$py" -m venv $(VENV)

# Re-install only when the project's metadata changes (the package itself is installed editable).
$(STAMP): pyproject.toml | $(PY)
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { \
	  echo "error: $(VENV) was made with $$($(PY) -V); nen-bayes needs Python >= 3.12." \
	       "Remove it (make clean) and run again." >&2; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# The main job: the whole reanalysis of the bundled (synthetic) cohort into results/
# (report.html, summary.txt, fits, comparisons). It replaces the previous results/.
run: $(STAMP)
	$(PY) scripts/reanalyse.py --data $(BUNDLED) --out results --force

# A short simulation-based calibration of the headline model on the bundled cohort's design, on
# a LocalCluster of one process per core, into results_study/sbc (replaced; see README,
# "Simulation studies").
study: $(STAMP)
	$(PY) scripts/study.py sbc --model weibull_ph_centre --reps 20 --draws 100 --tune 200 \
	    --chains 2 --ranks-of 99 --out results_study/sbc --force

test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

lint: $(STAMP)
	$(PY) -m ruff check nen_bayes scripts tests

# The documentation site (docs/, Sphinx with MyST-NB: the tutorials are executed, the command
# pages generated from the argument parsers), warnings as errors, into docs/_build/html
# (open docs/_build/html/index.html). The docs extra is installed when pyproject.toml changes.
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,docs]'
	@touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
