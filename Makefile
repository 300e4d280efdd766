# Two commands: `make run` and `make test`. Everything else they need is set up here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
HOST   ?= 127.0.0.1

export SITE_URL ?= http://$(HOST):$(PORT)
export DJANGO_SETTINGS_MODULE ?= billing_center.settings.base
# The demo's tools (seed_demo, demo_otp_code, demo_alert) for `make run`; DEBUG stays off (DEBUG=true to opt in).
export DEMO ?= true
export WEB_BIND := $(HOST):$(PORT)

.PHONY: run test install lock lint storm cluster bench soak-run demo-alert clean

# requirements.txt (what runs) and requirements-dev.txt (tests, tools) are locked with hashes by
# pip-tools from the .in files: `make lock` after editing one. Production installs requirements.txt alone.
$(BIN)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Billing Center needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.txt -r requirements-dev.txt
	@touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python manage.py compile_catalogues
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  Billing Center is starting at $(SITE_URL)/"
	@echo "  Customer logins: alice (prepaid), bob (postpaid), carol (enterprise member), dave"
	@echo "  Usage:           simulate_usage charges the prepaid accounts about 12 USD a day, every 5 minutes;"
	@echo "                   make demo-alert  takes alice below her 150 USD alert now (SMS on the worker's console)"
	@echo "  Finance admin:   $(SITE_URL)/admin/  as finance (finance2 approves large credits) or admin"
	@echo "  Password:        $${DEMO_PASSWORD:-billing-demo-2026}"
	@echo "  Admin OTP code:  $(BIN)/python manage.py demo_otp_code finance   (staff sign in with a one-time code)"
	@echo "  Health:          $(SITE_URL)/healthz      (Ctrl-C stops web, worker, beat and usage)"
	@echo ""
	@# Like honcho, but a crashed worker, beat or usage is restarted and named in one line (bin/run-supervised).
	$(BIN)/python bin/run-supervised -f Procfile.dev

# DEMO is for `make run`; the suite turns it on only where a test says so.
test: install
	env -u DEMO DJANGO_SETTINGS_MODULE=billing_center.settings.test $(BIN)/python -m pytest

# The demo's low-balance alert, now: alice's balance goes just below her threshold (DEMO only).
demo-alert: install
	$(BIN)/python manage.py demo_alert alice

# The reliability storm at full size (CI runs it small): needs DATABASE_URL=postgres://...
storm: install
	$(BIN)/python -m tests.reliability.storm $(STORM_ARGS)

# The cluster test with its figures: nginx (TLS), two web nodes (one killed mid-storm), two workers (one
# killed mid-task), two beats, PgBouncer, RabbitMQ (RABBITMQ_URL), moto's S3, on production settings.
# Needs DATABASE_URL=postgres://..., REDIS_URL=redis://..., nginx and pgbouncer. Whatever happens to the
# test, nothing it started stays running (each test process has a reaper); the last line says so.
cluster: install
	env -u DEMO DJANGO_SETTINGS_MODULE=billing_center.settings.test $(BIN)/python -m pytest -s -p no:randomly \
	  -o addopts="-p no:cacheprovider --tb=short -q" tests/reliability/test_cluster.py; status=$$?; \
	  $(BIN)/python -m tests.reliability.processes && exit $$status

# 30 cold starts of `make run`, each with a top-up, a ticket and an alert; counts crashed processes.
soak-run: install
	$(BIN)/python -m tests.reliability.soak_run $(SOAK_ARGS)

# One table of ratios and query counts (bench/README.md); needs DATABASE_URL=postgres://...
bench: install
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Re-lock both requirement files after editing requirements.in or requirements-dev.in (keeps other pins).
lock: install
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-find-links --no-emit-index-url --strip-extras requirements.in -o requirements.txt
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-find-links --no-emit-index-url --strip-extras requirements-dev.in -o requirements-dev.txt

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf var staticfiles test-artifacts .pytest_cache
