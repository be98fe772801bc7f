PY := .venv/bin/python
VENV_STAMP := .venv/.installed
# The PyTorch that setup installs (the CPU build on this project's machines): the version the tests
# and docs/ measurements use. pyproject.toml accepts any torch>=2.4,<3 for installs elsewhere.
TORCH_VERSION := 2.13.0

.PHONY: setup demo test test-slow clean

$(VENV_STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e '.[test]'
	touch $(VENV_STAMP)

setup: $(VENV_STAMP)

# The Khronos glTF validator (npm) for the GLB export test; optional: the test skips without it.
.tools/.installed:
	-command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix .tools gltf-validator@2.0.0-dev.3.10 && touch .tools/.installed

## Set up, then fit the built-in example (a walking quadruped) and write runs/demo.
demo: $(VENV_STAMP)
	$(PY) -m catlas example runs/example --force
	$(PY) -m catlas fit runs/example --out runs/demo --preset demo --overwrite

## Set up, then run the test suite (fast tests; see test-slow for the rest).
test: $(VENV_STAMP) .tools/.installed
	$(PY) -m pytest -q

test-slow: $(VENV_STAMP)
	$(PY) -m pytest -q -m slow

clean:
	rm -rf runs .pytest_cache
