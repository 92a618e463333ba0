# smtp-collector — every entry point a user or CI needs. The work is in scripts/.
SHELL := /bin/bash
.DEFAULT_GOAL := help
COMPOSE ?= docker compose

.PHONY: help deps build typecheck lint test test-unit test-e2e test-swaks bench bench-smoke \
        native-up native-down up down logs reload certs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

deps: ## install what the tests need (npm ci; apt packages when missing; start RabbitMQ)
	@scripts/test-deps.sh

build: ## bundle each command (bin/ runs dist/, built from src/ with esbuild; npm ci does it too)
	npm run build

typecheck: deps ## TypeScript strict type check of every workspace
	npm run typecheck

test: deps ## the whole suite: types, lint, unit and integration, native end to end, bench smoke
	$(MAKE) --no-print-directory typecheck lint test-unit test-e2e bench-smoke

test-unit: ## unit and integration tests of every workspace (real RabbitMQ, hpfeeds broker, swaks)
	npm test

test-e2e: ## native end-to-end suite: real Postfix + swaks + collector + brokers
	scripts/run-node-tests.sh e2e

test-swaks: ## send real mail through a running appliance (compose or native) and prove it arrived
	scripts/test-swaks.sh

lint: ## compose file, shell scripts and Dockerfiles, checked without a Docker engine
	scripts/lint.sh

bench: ## throughput and memory benchmarks, written to BENCHMARKS.md
	scripts/bench.sh

bench-smoke: ## a few-second run of the benchmark harness, so it cannot rot
	BENCH_SMOKE=1 scripts/bench.sh

native-up: build ## run the appliance natively: Postfix via postfix -c, collector, dev brokers
	scripts/native-up.sh

native-down: ## stop what native-up started
	scripts/native-down.sh

up: ## docker compose up -d
	$(COMPOSE) up -d

down: ## docker compose down
	$(COMPOSE) down

logs: ## follow the appliance's logs
	$(COMPOSE) logs -f

reload: ## re-read relay_domains (postmap + postfix reload), compose or native
	scripts/reload.sh

certs: ## generate a self-signed dev certificate into postfix/certs/
	scripts/certs.sh
