# Vigil: `make run` to start everything, `make test` to run the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
# pytest-xdist workers for `make test`: each has its own database, data dir and Redis db
# (portal/settings_test.py), and rows written by data migrations are put back before each test
# (tests/conftest.py), so files run in any order on any worker. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
export PORT
# Links in the demo's status page, feeds and emails follow the port it runs on.
VIGIL_BASE_URL ?= http://127.0.0.1:$(PORT)
export VIGIL_BASE_URL

.PHONY: run prepare install test test-faults lint audit bench bench-peers browser prometheus check-python clean screenshots

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Vigil needs Python 3.11 or newer (found %s); set PYTHON=python3.12" % sys.version.split()[0])'

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

# Debian's chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "browser tests need Debian's chromium: sudo apt-get install chromium"; fi; }

# Debian's prometheus (with promtool) and prometheus-alertmanager for the tests that run the real
# clients (tests/test_prometheus_alertmanager.py); the tests start them on free ports with their own
# temporary config and data, never the system services.
prometheus:
	@{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
	   && { command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1; }; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; \
	  else echo "Prometheus/Alertmanager tests need Debian's packages: sudo apt-get install prometheus prometheus-alertmanager"; fi; }

# What `make run` does before starting the processes. Static files are collected only in
# production: its manifest storage needs them (staff pages answer 500 without), while
# development serves static/ as it is, so `make run` stays fast. seed_demo loads nothing in
# production unless VIGIL_DEMO=1 (it says so).
prepare: install
	$(if $(REDIS_URL),,$(BIN)/python -m portal.embedded_redis --ensure)
	$(BIN)/python manage.py migrate --noinput
	$(if $(filter production,$(VIGIL_ENV)),$(BIN)/python manage.py collectstatic --noinput --verbosity 1)
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py bootstrap_admin

run: prepare
	@echo "Vigil on http://127.0.0.1:$(PORT)/  (admin: /admin/, status page: /status/, Ctrl-C stops everything)"
	$(BIN)/honcho start -p $(PORT) -f Procfile $(if $(REDIS_URL),web worker beat,web worker beat redis)

# The fast suite; the fault scenarios (real outages of Redis and PostgreSQL, restarts)
# run with `make test-faults`, and CI runs both.
test: install browser prometheus
	$(BIN)/pytest --ignore=tests/faults -n $(TEST_WORKERS) --dist loadfile --durations=15

test-faults: install
	$(BIN)/pytest tests/faults

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Known vulnerabilities in the pinned dependencies (PyPI's advisory data). --strict fails when a
# package cannot be looked up, so an unreachable advisory service is a failure, not a pass.
audit: install
	$(BIN)/pip-audit --strict --progress-spinner off -r requirements.txt

# The peers bench compares Vigil with (docs/benchmarks.md): Debian's nginx-light, wrk and
# prometheus-blackbox-exporter. bench starts them on free ports with its own configuration; the
# system services apt may start are stopped and left disabled.
bench-peers:
	@{ command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx; } && command -v wrk >/dev/null 2>&1 \
	  && command -v prometheus-blackbox-exporter >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light wrk prometheus-blackbox-exporter >/dev/null; \
	    for service in nginx prometheus-blackbox-exporter; do \
	      { command -v systemctl >/dev/null 2>&1 && systemctl disable --now $$service >/dev/null 2>&1; } || service $$service stop >/dev/null 2>&1 || true; done; \
	  else echo "the bench peers need Debian's packages: sudo apt-get install nginx-light wrk prometheus-blackbox-exporter"; fi; }

bench: install bench-peers
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .vigil

# The README's screenshots, regenerated from the real pages with the demo data, in a
# throwaway database (Debian's chromium takes them; `make browser` installs it).
SHOTS_DIR := $(CURDIR)/.screenshots
SHOTS_ENV := VIGIL_DATA_DIR=$(SHOTS_DIR) DATABASE_URL=sqlite:///$(SHOTS_DIR)/vigil.sqlite3 REDIS_URL=
screenshots: install browser
	rm -rf $(SHOTS_DIR) && mkdir -p $(SHOTS_DIR)
	$(SHOTS_ENV) $(BIN)/python manage.py migrate --noinput -v 0
	$(SHOTS_ENV) $(BIN)/python manage.py screenshots --out docs
	rm -rf $(SHOTS_DIR)
