# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv with Python 3.11 or 3.12 (python-wechaty cannot run on 3.13) and install the project.

VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3, 11), (3, 12)) else 1)' 2>/dev/null; then \
	echo $$p; break; fi; done)

.PHONY: demo test install install-test gateway clean

demo: install
	$(VENV)/bin/minqing demo

test: install-test gateway
	$(PY) -m pytest -q

$(PY):
	@test -n "$(PYTHON)" || { echo "minqing-relay needs Python 3.11 or 3.12 (python3.11 or python3.12 on PATH)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY)
	$(PY) -m pip install --quiet -e .

install-test: $(PY)
	$(PY) -m pip install --quiet -e ".[test]"

# the Wechaty puppet-service gateway used by the integration tests (Node.js)
# (under CI=true a missing npm is an error: the integration tests must run there)
gateway:
	@if command -v npm >/dev/null 2>&1 && [ -f tests/gateway/package-lock.json ]; then \
		npm ci --prefix tests/gateway --no-audit --no-fund --loglevel=error; \
	elif [ "$$CI" = "true" ]; then echo "npm not found: CI must run the integration tests against the Wechaty gateway" >&2; exit 1; \
	else echo "npm not found: the integration tests against a real Wechaty gateway will be skipped"; fi

clean:
	rm -rf $(VENV) tests/gateway/node_modules .pytest_cache
