# odl-db: every target installs what it needs (scripts/install-deps) and is
# safe to run again. `make help` lists them.

SHELL := /bin/bash
.DEFAULT_GOAL := help

DEMO_DIR ?= $(CURDIR)/.pgdata
DEMO_PORT ?= 54315
# sqitch target: DATABASE_URL when set, else the libpq PG* variables.
TARGET ?= $(if $(DATABASE_URL),db:pg:$(patsubst postgresql:%,%,$(patsubst postgres:%,%,$(DATABASE_URL))),db:pg:)

.PHONY: help deps demo demo-stop test test-pgtap test-python deploy revert verify lint bench drill regions \
	embed-worker

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: ## Install PostgreSQL, its extensions, sqitch, pgTAP and the test venv
	@scripts/install-deps

demo: deps ## Start the local cluster in .pgdata, deploy, load demo data, show it
	@scripts/demo

demo-stop: ## Stop the demo cluster (its data stays in .pgdata)
	@scripts/pgcluster stop $(DEMO_DIR)

test: deps ## Run every test (pgTAP, then pytest) in a throwaway cluster
	@scripts/test

deploy: deps ## sqitch deploy into the database named by PG* or DATABASE_URL
	sqitch deploy $(TARGET)

revert: deps ## Revert everything from that database; refuses when tables hold rows unless DROP_DATA=yes
	@scripts/revert $(TARGET)

verify: deps ## sqitch verify that database
	sqitch verify $(TARGET)

lint: deps ## sqlfluff (postgres dialect) on every SQL file, then srcguard check
	.venv/bin/sqlfluff lint deploy revert verify sql tests/pgtap demo control
	tools/srcguard check

bench: deps ## Run the benchmarks in a throwaway cluster; writes benchmarks/RESULTS.md
	@scripts/bench

embed-worker: ## Embed stale chunks of ODL_TENANT as ODL_USER (wordllama, offline); ONCE=1 stops when none is left
	PYTHONPATH=client .venv/bin/python -m odl_client.embed $(if $(ONCE),--once) $(if $(BATCH),--batch $(BATCH))

drill: deps ## Restore drill: pgBackRest backup (encrypted), workload, point-in-time restore, checks, RPO/RTO
	@scripts/drill

regions: deps ## Three regional clusters (US, EU, APAC) and a control plane, a mixed workload through RegionRouter, per-region totals
	@scripts/regions $(REGIONS_ARGS)
