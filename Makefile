# hubsync — see README.md. Every target does real work; `make help` lists them.
SHELL := /bin/bash
GO    ?= go
PKGS  := ./...
export DATABASE_URL ?= postgres://postgres@localhost:5432/postgres?sslmode=disable

.PHONY: help build test fuzz generate lint demo bench docs db-up clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

build: ## build bin/hubsync
	$(GO) build -trimpath -o bin/hubsync ./cmd/hubsync

test: db-up ## run every test (race detector on) against real Postgres
	$(GO) test -race -count=1 -timeout 9m $(PKGS)

RAPID_CHECKS ?= 300
fuzz: db-up ## the property test of hostile records, RAPID_CHECKS generated cases (default 300) instead of a few
	$(GO) test -count=1 -timeout 60m -run 'TestPropertyHostileRecords|TestCorpusFormat' ./sync/syncer/ -rapid.checks=$(RAPID_CHECKS)

db-up: ## make sure Postgres answers at DATABASE_URL, starting one if it can
	@./.ci/ensure-db

generate: ## regenerate db/ from queries/ and migrations/ with sqlc
	$(GO) tool sqlc generate

lint: ## gofmt, go vet, and a check that db/ matches queries/
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)
	$(GO) tool sqlc diff

demo: db-up ## simulator + two syncs with churn between + a summary and example queries
	$(GO) run ./cmd/demo

bench: db-up ## performance scenarios against the simulator and real Postgres; prints a table
	$(GO) run ./cmd/bench

docs: db-up ## regenerate docs/data-dictionary.md from the database's comments
	$(GO) run ./cmd/hubsync docs --out docs/data-dictionary.md

clean: ## remove build output
	rm -rf bin
