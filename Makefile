# Yiwang - every command a newcomer needs. `make run` and `make test` set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 4566
API_PORT ?= 8000

.PHONY: help venv run cloud test lint package deploy deploy-localstack bench demo dashboard clean
.PHONY: localstack localstack-env test-embedded test-localstack

help:
	@echo "make run      set up, start the local cloud + API on :$(PORT) and :$(API_PORT)"
	@echo "make test     set up and run the whole test suite"
	@echo "make lint     ruff, cfn-lint on the template, ASL validation"
	@echo "make package  build the AWS template (API merged with the rest) into build/"
	@echo "make deploy   package and deploy to AWS (needs AWS credentials, DEPLOY_BUCKET)"
	@echo "make localstack  make run, on LocalStack in host mode (no Docker) on :$(PORT)"
	@echo "make test-localstack  the integration tests against LocalStack"
	@echo "make deploy-localstack   deploy the same template to a LocalStack on :$(PORT)"
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

# The whole suite on the embedded cloud, then the LocalStack half (skipped, saying what to
# install, when there is no Python 3.13 and 3.12).
test: venv
	@status=0; $(MAKE) --no-print-directory test-embedded || status=$$?; \
	echo "=== LocalStack target ==="; \
	if $(MAKE) --no-print-directory localstack-env; then \
	  $(MAKE) --no-print-directory test-localstack LOCALSTACK_TESTS="$(LOCALSTACK_QUICK)" \
	    || status=$$?; \
	else echo "LocalStack half skipped: $(LOCALSTACK_MISSING)"; fi; \
	exit $$status

# Each worker process starts its own cloud (embedded, or a LocalStack of its own) and takes
# whole files (`loadfile`, so a module's fixtures stay in one process); 0 runs a half in this
# one process. A worker's earlier files may leave stream work running into later ones, so a
# test counts only its own records (docs/extending.md).
TEST_WORKERS ?= 2
EMBEDDED_WORKERS ?= 2
workers = $(if $(filter 0,$(1)),,-n $(1) --dist loadfile)
test-embedded: venv
	$(BIN)/pytest $(call workers,$(EMBEDDED_WORKERS))

lint: venv
	$(BIN)/ruff check .
	$(BIN)/cfn-lint infra/template.yaml
	$(BIN)/python -m infra.asl_lint state_machines/*.asl.json

package: venv
	$(BIN)/python -m infra.package --out build

# Checks the parameters first (a local stage, loopback or missing provider URLs are refused),
# then packages and deploys. PAYMENT_PROVIDER_URL, COURIER_PROVIDER_URL and SMS_PROVIDER_URL are required.
deploy: venv
	$(BIN)/python -m infra.package --out build --deploy --stage $${STAGE:-dev}

deploy-localstack: venv localstack-env
	$(BIN)/python -m infra.localcloud.localstack deploy --port $(PORT) --api-port $(API_PORT)

# LocalStack without Docker: localstack-core needs Python 3.13 (.venv-localstack, with our
# plugins), the functions run under Python 3.12 as the template says (.venv-functions).
# Found on PATH or under pyenv; dependencies pinned by infra/localstack_plugins/constraints.txt.
LS_VENV := .venv-localstack
FN_VENV := .venv-functions
LS_STAMP := $(LS_VENV)/.installed
FN_STAMP := $(FN_VENV)/.installed
find_python = $(firstword $(foreach p,$(shell command -v python$(1) 2>/dev/null) \
  $(wildcard $(HOME)/.pyenv/versions/$(1)*/bin/python$(1)),\
  $(if $(shell $(p) -c 'import sys; print(sys.version_info[:2] == ($(subst .,$(comma),$(1))))' 2>/dev/null | grep True),$(p))))
comma := ,
PYTHON313 ?= $(call find_python,3.13)
PYTHON312 ?= $(call find_python,3.12)
LOCALSTACK_MISSING = LocalStack needs Python 3.13 and the functions Python 3.12: install them \
  (e.g. pyenv install 3.13 3.12) or set PYTHON313=/path/python3.13 PYTHON312=/path/python3.12

$(LS_STAMP): infra/localstack_plugins/constraints.txt infra/localstack_plugins/pyproject.toml
	@test -n "$(PYTHON313)" || { echo "$(LOCALSTACK_MISSING)"; exit 1; }
	$(PYTHON313) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install --quiet uv
	$(LS_VENV)/bin/uv pip install --quiet --python $(LS_VENV)/bin/python \
	  -r infra/localstack_plugins/constraints.txt -e infra/localstack_plugins
	touch $(LS_STAMP)

# Lambda's Python runtime brings boto3 (the layer does not carry it): the same here.
$(FN_STAMP): infra/localstack_plugins/constraints.txt
	@test -n "$(PYTHON312)" || { echo "$(LOCALSTACK_MISSING)"; exit 1; }
	$(PYTHON312) -m venv $(FN_VENV)
	$(FN_VENV)/bin/pip install --quiet -c infra/localstack_plugins/constraints.txt boto3
	touch $(FN_STAMP)

localstack-env: $(LS_STAMP) $(FN_STAMP)

localstack: venv localstack-env
	$(BIN)/python -m infra.localcloud.localstack run --port $(PORT) --api-port $(API_PORT)

# The plugins' own tests, then the integration suite on LocalStack (LOCALSTACK_TESTS: which).
LOCALSTACK_TESTS ?= tests/functions/api tests/layers tests/infra/localcloud/test_transactions.py \
  tests/infra/localcloud/test_deploy.py
# What `make test` runs there, to keep the whole of `make test` near 13 minutes on 2 cores: the
# API's journeys and the workflow-driven domain tests, less what the target changes nothing in
# and costs most (the 1 GiB upload, the property-based and authorization-matrix sweeps of the
# API's own code, which the embedded half has just run).
LOCALSTACK_QUICK ?= tests/functions/api tests/layers/yiwang/test_delivery.py \
  tests/layers/yiwang/test_certificates.py tests/infra/localcloud/test_transactions.py \
  tests/infra/localcloud/test_deploy.py --ignore=tests/functions/api/test_large_upload.py \
  --ignore=tests/functions/api/test_properties.py \
  --ignore=tests/functions/api/test_authorization_matrix.py
test-localstack: venv localstack-env
	cd infra/localstack_plugins && YIWANG_LAMBDA_PYTHON312=$(abspath $(FN_VENV))/bin/python \
	  ../../$(LS_VENV)/bin/python -m pytest tests
	YIWANG_TEST_TARGET=localstack $(BIN)/pytest $(call workers,$(TEST_WORKERS)) -m integration $(LOCALSTACK_TESTS)

bench: venv
	$(BIN)/python -m bench

demo: venv
	$(BIN)/python -m infra.demo --api http://127.0.0.1:$(API_PORT)

dashboard: venv
	$(BIN)/python -m infra.dashboard --hours $${HOURS:-3}

clean:
	rm -rf $(VENV) $(LS_VENV) $(FN_VENV) build .local

# The capacity model: measured per-application counts at RATE applications a second against
# AWS's default quotas, the hottest partition, the month's bill (bench/capacity.py).
RATE ?= 1000
.PHONY: scale
scale: venv
	$(BIN)/python -m bench scale --rate $(RATE)
