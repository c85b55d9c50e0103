# The cabin station's everyday commands; each creates the virtual environment when needed.
# The development environment has the simulator and the tests (extras `sim` and `test`);
# `make production` makes a kiosk's, with neither.
VENV ?= .venv
PY := $(VENV)/bin/python
STATE ?= state

.PHONY: run mobile fleet demo test test-fast bench soak production clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[sim,test]'
	touch $@

$(VENV)/.production: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

production: $(VENV)/.production  ## the kiosk's virtual environment: the station only, no simulator, no tests

run: $(VENV)/.installed  ## the cabin on the simulator, until Ctrl-C
	$(VENV)/bin/cabin run --sim --state-dir $(STATE)

mobile: $(VENV)/.installed  ## a day of the mobile doctor's office on the simulator, until Ctrl-C
	$(VENV)/bin/cabin run --sim --mobile --state-dir $(STATE)-mobile

fleet: $(VENV)/.installed  ## a fleet on this machine: PostgreSQL, Redis, HAProxy, two hubs and 3 simulated cabins, until Ctrl-C
	$(PY) -m fleet.local

demo: $(VENV)/.installed  ## one simulated consultation, headless
	$(VENV)/bin/cabin demo

test: $(VENV)/.installed  ## every test
	$(PY) -m pytest

test-fast: $(VENV)/.installed  ## every test but the slow ones (the SIGKILL campaign, fuzzing): about 16 minutes instead of 19
	$(PY) -m pytest -m "not slow"

bench: $(VENV)/.installed  ## every benchmark, as a table of ratios and whether each met its target
	$(PY) -m bench

soak: $(VENV)/.installed  ## 1000 simulated consultations back to back: RSS, open fds, event-loop lag (not in CI)
	$(PY) -m bench.consultations --count 1000

clean:
	rm -rf $(VENV) $(STATE) $(STATE)-mobile .pytest_cache .hypothesis
