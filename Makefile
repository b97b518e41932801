# One command each: `make demo` sets up and runs the demo, `make test` sets up and runs
# the tests. Set-up makes a virtual environment in .venv with the CPU build of torch.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup system-deps test test-fast demo lint bench clean

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
test: setup system-deps
	FTEVAL_REQUIRE_REFERENCES=1 $(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not real_model and not sandbox and not browser"

demo: setup
	$(VENV)/bin/fteval demo

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
