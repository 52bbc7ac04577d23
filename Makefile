# Two commands on a fresh machine: `make run` (set up + run the training DAG) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ENV := source scripts/env.sh &&
PROD := source scripts/prod_env.sh &&
CONF ?= {}
# test processes of `make test` (pytest-xdist, a file per worker at a time): the end-to-end tests mostly wait on
# a scheduler, so two keep this 2-core machine busy; TEST_WORKERS=1 runs the suite in one process
TEST_WORKERS ?= 2

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

$(STAMP): requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==0.13.9
	# bytecode compiled once here: the environment sets PYTHONDONTWRITEBYTECODE, so without it every task
	# process, CLI call and test compiles mlflow/sklearn/airflow from source again (mlflow import 7 s -> 3 s)
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.txt
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)  ## virtualenv with the pinned stack, Airflow metadata DB, MLflow store folder
	@$(ENV) mkdir -p "$$AIRFLOW_HOME" "$$MODELOPS_HOME/mlflow" && \
	  $(VENV)/bin/airflow db migrate > "$$AIRFLOW_HOME/db-migrate.log" 2>&1 || \
	  { tail -20 "$$AIRFLOW_HOME/db-migrate.log"; exit 1; }

run: $(STAMP)  ## the whole lifecycle through the real scheduler, in a fresh workspace .local/lifecycle/<time>
	@ts=$$(date -u +%Y%m%dT%H%M%S); export MODELOPS_HOME="$(CURDIR)/.local/lifecycle/$$ts"; \
	  $(ENV) mkdir -p "$$AIRFLOW_HOME" && ln -sfn "$$ts" .local/lifecycle/latest && \
	  { $(VENV)/bin/airflow db migrate > "$$AIRFLOW_HOME/db-migrate.log" 2>&1 || \
	    { tail -20 "$$AIRFLOW_HOME/db-migrate.log"; exit 1; }; } && \
	  $(PY) scripts/lifecycle.py $(ARGS)

forecast: $(STAMP)  ## the election forecast through the DAGs (train both, score two cycles, backtest, calibrate) in .local/forecast/<time>
	@ts=$$(date -u +%Y%m%dT%H%M%S); export MODELOPS_HOME="$(CURDIR)/.local/forecast/$$ts"; \
	  $(ENV) mkdir -p "$$AIRFLOW_HOME" && ln -sfn "$$ts" .local/forecast/latest && \
	  { $(VENV)/bin/airflow db migrate > "$$AIRFLOW_HOME/db-migrate.log" 2>&1 || \
	    { tail -20 "$$AIRFLOW_HOME/db-migrate.log"; exit 1; }; } && \
	  $(PY) scripts/forecast_demo.py $(ARGS)

train: setup  ## one training DAG run via `airflow dags test` in .local (CONF='{"dataset": "anes96_vote"}')
	@$(ENV) scripts/run_dag.sh modelops_training '$(CONF)'

score: setup  ## one scoring DAG run the same way (CONF='{"dataset": "voter_turnout", "snapshot": "2028-10-01"}')
	@$(ENV) scripts/run_dag.sh modelops_scoring '$(CONF)'

debug-row: $(STAMP)  ## one row's stages, checks, score and top effects (DATASET=voter_turnout ID=<id> or ROW='{"age": 40}'; VERSION, SNAPSHOT)
	@$(ENV) $(PY) -m modelops.score.debug_row $(if $(DATASET),--dataset "$(DATASET)") $(if $(ID),--id "$(ID)") \
	  $(if $(ROW),--row '$(ROW)') $(if $(VERSION),--version "$(VERSION)") $(if $(SNAPSHOT),--snapshot "$(SNAPSHOT)")

monitor: setup  ## one monitoring DAG run the same way (CONF='{"dataset": "voter_turnout", "window": "2028-10-01"}')
	@$(ENV) scripts/run_dag.sh modelops_monitoring '$(CONF)'

up: setup  ## start Airflow (api-server, scheduler, dag-processor, triggerer) + MLflow UI on 127.0.0.1
	@$(ENV) scripts/stack.sh up

down:  ## stop what `make up` started
	@$(ENV) scripts/stack.sh down

up-prod: $(STAMP)  ## production-shaped stack: Airflow on PostgreSQL, CeleryExecutor + Redis, 2 workers, MLflow on PG
	@$(PROD) scripts/stack.sh up

down-prod:  ## stops what `make up-prod` started (the databases stay)
	@$(PROD) scripts/stack.sh down

run-prod: $(STAMP) drop-prod  ## the lifecycle (`make run`) across the production-shaped stack, from fresh stores
	@$(PROD) $(PY) scripts/lifecycle.py $(ARGS)

drop-prod:  ## stops the production-shaped stack, drops its PostgreSQL databases and its workspace .local/prod
	@$(PROD) scripts/stack.sh down && $(PY) scripts/prod_stores.py drop && rm -rf "$(CURDIR)/.local/prod"

test: $(STAMP)  ## the whole test suite (installs Debian's Chromium for the browser tests when missing)
	scripts/ensure_browser.sh
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: $(STAMP)  ## the fast tier for every change: no Airflow DB, PostgreSQL, server or browser (tests not marked slow)
	MODELOPS_FAST_TIER=1 $(VENV)/bin/pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench-test-fast: $(STAMP)  ## the fast tier's wall time against its 3-minute bar
	@$(PY) benchmarks/bench_test_tiers.py fast

bench-test: $(STAMP)  ## the whole suite's wall time (make test, the CI command) against its 20-minute bar
	@$(PY) benchmarks/bench_test_tiers.py full

bench-forecast: $(STAMP)  ## county forecast MAE, the calibration's gain and 90% interval coverage (issue 21's bars)
	@$(PY) benchmarks/bench_forecast_accuracy.py

bench-decay: $(STAMP)  ## score decay over cycles and the champion-age default it gives
	@$(PY) benchmarks/bench_score_decay.py

bench-feature-cost: $(STAMP)  ## per feature of the voter model: drop-one gain in the primary metric vs its time and memory share of the compiled scoring path
	@$(PY) benchmarks/bench_feature_cost.py

bench-house: $(STAMP)  ## the house's figures (module sizes, long functions, circles, dict[str, Any]) before and after issue 20
	@$(PY) benchmarks/bench_house.py

lint: $(STAMP)  ## ruff, including the Airflow (AIR) rules
	$(VENV)/bin/ruff check .

bench-parse: $(STAMP)  ## DAG parse time
	@$(ENV) $(PY) benchmarks/bench_dag_parse.py

bench-training: setup  ## the training DAG on 1M synthetic voters: wall time and peak memory
	@$(ENV) $(PY) benchmarks/bench_training.py

clean:  ## remove everything generated (keeps the virtualenv)
	rm -rf .local

bench-drift: $(STAMP)  ## drift check at 1M rows x 20 columns vs Evidently (own venv)
	@$(ENV) $(PY) benchmarks/bench_drift.py

bench-scoring: $(STAMP)  ## batch scoring of 10M voters per family (configured-search champions), shadow, 8 partitions: rows/s, peak RSS
	@$(PY) benchmarks/bench_scoring.py  # its own workspace under .local/bench_scoring (not scripts/env.sh's)

bench-tree-size: $(STAMP)  ## tree sizes per family: holdout AUC/log loss vs one-thread predict µs/row (~4 min)
	@$(PY) benchmarks/bench_tree_size.py  # bench_scoring's workspace under .local/bench_scoring

bench-stack: $(STAMP)  ## embedded vs production-shaped stack: idle PSS, time to up, training fan-out, scoring 1 vs 2 workers
	@$(PY) benchmarks/bench_stack.py  # its own workspaces under .local/bench_stack and databases modelops_bench_*

.PHONY: bench-test bench-test-fast bench-stack bench-forecast bench-decay bench-house bench-feature-cost help setup run forecast train score monitor up down up-prod down-prod run-prod drop-prod test test-fast lint bench-parse bench-training bench-drift bench-scoring bench-tree-size clean
