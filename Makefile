# PracticePay. `make run` starts the local stack; `make test` runs every suite. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PRACTICE ?= prc_demo
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup run token test unit integration infra e2e lint format synth openapi deploy splash-alert bench chaos clean

help:
	@echo "make run            local stack: API on 127.0.0.1:\$${PRACTICEPAY_API_PORT:-3000}, embedded AWS on :\$${PRACTICEPAY_AWS_PORT:-5000}"
	@echo "make test           lint + every test suite (unit, integration, infra, e2e)"
	@echo "make token PRACTICE=<id>   a signed token for a practice (local stack); ADMIN=1 adds the admin scope"
	@echo "make synth          CDK template to cdk.out/ (bundles the Lambda layer with pip, no Docker)"
	@echo "make deploy         synth and deploy with the CDK CLI (needs AWS credentials)"
	@echo "make openapi        write docs/openapi.json"
	@echo "make splash-alert URL=…  register the Splash web alert after a deploy (README, Deploy)"
	@echo "make chaos SEED=1 OPS=200 CLIENTS=4 TIME=300  seeded chaos run against a local stack in worker mode (IN_PROCESS=1: in-process); fails on any books mismatch"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	@$(PY) -m local.run

token: $(STAMP)
	@$(PY) -m local.token $(PRACTICE) $(if $(ADMIN),--admin)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest

unit integration infra e2e: $(STAMP)
	$(PY) -m pytest -m $@

synth: $(STAMP)
	$(PY) app.py $(CONTEXT)
	$(VENV)/bin/cfn-lint cdk.out/PracticePay.template.json

openapi: $(STAMP)
	$(PY) -c "import json; from local.openapi import openapi_schema; print(json.dumps(openapi_schema(), indent=2))" > docs/openapi.json

deploy: synth
	npx --yes aws-cdk@2 deploy --app cdk.out PracticePay

# After a deploy: SPLASH_HOST=payrix SPLASH_CREDENTIALS=secretsmanager:<SplashSecretArn> make splash-alert URL=<ApiUrl>webhooks/splash
splash-alert: $(STAMP)
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
