# PracticePay. `make run` starts the local stack; `make test` runs every suite. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCAL_STAMP := $(VENV)/.installed-local
PRACTICE ?= prc_demo
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup browser smoke destroy run token test unit integration infra e2e lint format synth openapi deploy splash-alert bench chaos clean

help:
	@echo "make run            local stack: API on 127.0.0.1:\$${PRACTICEPAY_API_PORT:-3000}, embedded AWS on :\$${PRACTICEPAY_AWS_PORT:-5000}"
	@echo "make test           lint + every test suite (unit, integration, infra, e2e)"
	@echo "make token PRACTICE=<id>   a signed token for a practice (local stack); ADMIN=1 adds the admin scope;"
	@echo "                    ROLE=front_desk|billing|admin makes it a staff member's, limited to that role;"
	@echo "                    SECRET=<JwtSecretArn> signs with a deployed HS256 stack's secret"
	@echo "make synth          CDK template to cdk.out/ (bundles the Lambda layer with pip, no Docker)"
	@echo "make deploy         synth and deploy with the CDK CLI (needs AWS credentials)"
	@echo "make smoke URL=…    after a deploy: health, auth, OpenAPI and (sandbox host) a patient → refund round trip"
	@echo "make destroy        delete the stack (retain_data=true keeps tables, key and logs)"
	@echo "make openapi        write functions/docs/openapi.json (served at GET /openapi.json; docs/openapi.json links to it)"
	@echo "make splash-alert URL=…  register the Splash web alert after a deploy (README, Deploy)"
	@echo "make chaos SEED=1 OPS=200 CLIENTS=4 TIME=300  seeded chaos run against a local stack in worker mode (IN_PROCESS=1: in-process); fails on any books mismatch"

# Two install levels: `make run` needs only the runtime and the local stack (.[local]); everything else
# (CDK, lint, tests, the browser driver) is `.[dev]`, installed by the first target that needs it.
$(LOCAL_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[local]'
	@touch $(LOCAL_STAMP)

$(STAMP): $(LOCAL_STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(LOCAL_STAMP)
	@$(PY) -m local.run

token: $(LOCAL_STAMP)
	@$(PY) -m local.token $(PRACTICE) $(if $(ADMIN),--admin) $(if $(ROLE),--role $(ROLE)) $(if $(SECRET),--secret $(SECRET)) $(TOKEN_ARGS)

# The browser tests drive Debian's chromium through the playwright package (no browser download is possible
# or needed): installed here when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint browser
	$(PY) -m pytest

unit integration infra e2e: $(STAMP) browser
	$(PY) -m pytest -m $@

synth: $(STAMP)
	$(PY) app.py $(CONTEXT)
	$(VENV)/bin/cfn-lint cdk.out/PracticePay.template.json

openapi: $(STAMP)
	$(PY) -c "import json; from local.openapi import openapi_schema; print(json.dumps(openapi_schema(), indent=2))" > functions/docs/openapi.json

deploy: synth
	npx --yes aws-cdk@2 deploy --app cdk.out PracticePay

# Deletes the stack. With retain_data=true (the default) the tables, the KMS key and the log groups stay
# (README, Deploy: "Destroy").
destroy: synth
	npx --yes aws-cdk@2 destroy --app cdk.out PracticePay

# After a deploy (or against make run's stack): make smoke URL=<ApiUrl> [TOKEN=…]
smoke: $(LOCAL_STAMP)
	@test -n "$(URL)" || (echo "usage: make smoke URL=https://…/v1/ [TOKEN=<a practice token>]" && exit 2)
	@$(PY) -m local.smoke $(URL) $(if $(TOKEN),--token $(TOKEN))

# After a deploy: SPLASH_HOST=payrix SPLASH_CREDENTIALS=secretsmanager:<SplashSecretArn> make splash-alert URL=<ApiUrl>webhooks/splash
splash-alert: $(LOCAL_STAMP)
	@test -n "$(URL)" || (echo "usage: make splash-alert URL=https://…/v1/webhooks/splash" && exit 2)
	$(PY) -m practicepay.sync.registration $(URL)

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache

bench: $(STAMP)
	@$(PY) -m tests.bench.money

SEED ?= 1
OPS ?= 200
CLIENTS ?= 4
TIME ?= 300
chaos: $(STAMP)
	@$(PY) -m tests.chaos --seed $(SEED) --operations $(OPS) --clients $(CLIENTS) --time-limit $(TIME) $(if $(IN_PROCESS),--in-process)
