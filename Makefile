# keras_musicvae: two commands do all the set-up on a fresh machine.
#   make demo   - create .venv if missing, install, run the demo on the bundled corpus
#   make test   - create .venv if missing, install the dev extras (and Beam), run the tests
#                 (whole suite on TensorFlow; on JAX and PyTorch the core suite,
#                 less the tests that cannot depend on the backend; each pass
#                 prints its 15 slowest tests)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Backends on which the core (non-slow) suite runs after the full TensorFlow run.
CORE_BACKENDS ?= jax torch

.PHONY: demo test test-fast install clean presets

$(STAMP): pyproject.toml Makefile tests/js/package-lock.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# beam: the tests run the corpus pipeline on Beam's DirectRunner.
	$(PY) -m pip install --quiet -e ".[jax,torch,beam,dev]"
	# magenta.js, pinned in tests/js (its tests skip without Node or node_modules).
	if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/js --no-audit --no-fund || echo "npm ci failed: the magenta.js tests will be skipped"; \
	fi
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m keras_musicvae demo --output demo_output --overwrite

test: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) -m pytest -q -n 2 --durations=15 $(PYTEST_ARGS)
	for backend in $(CORE_BACKENDS); do \
		KERAS_BACKEND=$$backend $(PY) -m pytest -q -n 2 --durations=15 -m "not slow and not backend_independent" $(PYTEST_ARGS) || exit 1; \
	done

test-fast: $(STAMP)
	KERAS_BACKEND=jax $(PY) -m pytest -q -n 2 -m "not slow" $(PYTEST_ARGS)

presets: $(STAMP)
	$(PY) tools/make_presets.py

clean:
	rm -rf $(VENV) build dist *.egg-info demo_output
