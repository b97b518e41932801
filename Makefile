# One command each: `make demo` sets up and runs the demo, `make test` sets up and runs
# the tests. Set-up makes a virtual environment in .venv with the CPU build of torch.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup system-deps test test-fast test-min demo lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build first, so that the `torch` requirement is already met.
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[all,dev]"
	touch $@

# Operating-system packages: bubblewrap (code sandbox), WordNet 3.0 (METEOR) and Chromium
# (the report.html test opens the demo's report headless).
system-deps:
	@if command -v bwrap >/dev/null && [ -d /usr/share/wordnet ] && command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq bubblewrap wordnet-base wordnet-sense-index chromium >/dev/null; \
	else echo "note: install bubblewrap, wordnet-base and chromium for the sandbox, METEOR and browser tests"; fi

# Every reference library and data set the tests compare with is installed here, so a
# missing one fails the run instead of skipping its tests (tests/conftest.py).
# One pytest worker per core (pytest-xdist; a test file stays on one worker, so a file's
# shared fixtures such as its Ray cluster start once), each with one torch thread: on two
# cores that halves the suite's wall time, where two workers of two threads each would
# slow torch about tenfold.
TEST_WORKERS ?= auto
PYTEST := OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: setup system-deps
	FTEVAL_REQUIRE_REFERENCES=1 $(PYTEST)

test-fast: setup
	$(PYTEST) -m "not real_model and not sandbox and not browser"

# The declared minimum versions (pyproject's ">=" floors, tools/min_requirements.py) in a
# separate virtual environment, then the fast tests: proves the floors are true. Not part
# of CI (it downloads the old releases). torch is the CPU build of TORCH_SPEC (only CPU
# builds may be installed here), not its floor.
MIN_VENV ?= .venv-min
MIN_PY := $(MIN_VENV)/bin/python

test-min: system-deps
	test -x $(MIN_PY) || python3 -m venv $(MIN_VENV)
	$(MIN_PY) -m pip install --quiet --upgrade pip
	$(MIN_PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(MIN_PY) tools/min_requirements.py > $(MIN_VENV)/min-requirements.txt
	$(MIN_PY) -m pip install --quiet --prefer-binary -r $(MIN_VENV)/min-requirements.txt
	$(MIN_PY) -m pip install --quiet --no-deps -e .
	$(MIN_PY) -m pip freeze > $(MIN_VENV)/installed.txt
	FTEVAL_REQUIRE_REFERENCES=1 $(MIN_PY) -m pytest -q -m "not real_model and not sandbox"

demo: setup
	$(VENV)/bin/fteval demo

# ruff (with Google-style docstring rules for public code) and mypy over src, clean.
lint: setup
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(MIN_VENV) .pytest_cache build *.egg-info
