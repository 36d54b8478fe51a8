# Yiwang - every command a newcomer needs. `make run` and `make test` set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 4566
API_PORT ?= 8000

.PHONY: help venv run cloud test lint package deploy deploy-localstack bench demo dashboard clean

help:
	@echo "make run      set up, start the local cloud + API on :$(PORT) and :$(API_PORT)"
	@echo "make test     set up and run the whole test suite"
	@echo "make lint     ruff, cfn-lint on the template, ASL validation"
	@echo "make package  build the AWS template (API merged with the rest) into build/"
	@echo "make deploy   package and deploy to AWS (needs AWS credentials, DEPLOY_BUCKET)"
	@echo "make deploy-localstack   deploy the same template to a LocalStack on :4566"
	@echo "make bench    cold starts, time to ready, cost of one application"
	@echo "make scale    capacity model at RATE applications/s (default 1000): quotas, cost"
	@echo "make demo     (with make run going) a whole construction permit, printed step by step"
	@echo "make dashboard  (with make run going) the CloudWatch dashboard as .local/dashboard.html"

$(STAMP): requirements-dev.txt layers/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/python -m infra.localcloud run --port $(PORT) --api-port $(API_PORT)

cloud: venv
	$(BIN)/python -m infra.localcloud cloud --port $(PORT)

test: venv
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/cfn-lint infra/template.yaml
	$(BIN)/python -m infra.asl_lint state_machines/*.asl.json

package: venv
	$(BIN)/python -m infra.package --out build

# Checks the parameters first (a local stage, loopback or missing provider URLs are refused),
# then packages and deploys. PAYMENT_PROVIDER_URL and COURIER_PROVIDER_URL are required.
deploy: venv
	$(BIN)/python -m infra.package --out build --deploy --stage $${STAGE:-dev}

deploy-localstack: venv
	$(BIN)/python -m infra.localcloud.localstack

bench: venv
	$(BIN)/python -m bench

demo: venv
	$(BIN)/python -m infra.demo --api http://127.0.0.1:$(API_PORT)

dashboard: venv
	$(BIN)/python -m infra.dashboard --hours $${HOURS:-3}

clean:
	rm -rf $(VENV) build .local

# The capacity model: measured per-application counts at RATE applications a second against
# AWS's default quotas, the hottest partition, the month's bill (bench/capacity.py).
RATE ?= 1000
.PHONY: scale
scale: venv
	$(BIN)/python -m bench scale --rate $(RATE)
