# posoffer: the front door. `make help` lists the targets.

GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BENCH    ?= .
# The race detector needs cgo and a C compiler; without them tests run plain.
RACE     := $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v gcc >/dev/null && echo -race)

.PHONY: help build test test-external bench lint fuzz demo eval-demo clean sim

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build the binaries into bin/
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./agent/cmd/... ./cloud/cmd/...

test: ## run every test
	$(GO) test $(RACE) -count=1 ./...

# The suites that talk to a broker or server, run again against real ones:
# POSOFFER_TEST_MQTT_URL=tcp://host:port (Mosquitto),
# POSOFFER_TEST_NATS_URL=nats://host:port (NATS with JetStream) and
# POSOFFER_TEST_PG_URL=postgres://... (PostgreSQL) must be set.
test-external: ## rerun the service suites against POSOFFER_TEST_*_URL
	@test -n "$$POSOFFER_TEST_MQTT_URL" || { echo "set POSOFFER_TEST_MQTT_URL (tcp://host:port)"; exit 2; }
	@test -n "$$POSOFFER_TEST_NATS_URL" || { echo "set POSOFFER_TEST_NATS_URL (nats://host:port)"; exit 2; }
	@test -n "$$POSOFFER_TEST_PG_URL" || { echo "set POSOFFER_TEST_PG_URL (postgres://...)"; exit 2; }
	$(GO) test $(RACE) -count=1 -run 'TestAgent' ./agent/cmd/posoffer-agent/
	$(GO) test $(RACE) -count=1 -p 1 ./cloud/...
	$(GO) test $(RACE) -count=1 -run 'TestAgentEventsStoreAtHQ' ./internal/conformance/

bench: ## run the benchmarks (see BENCHMARKS.md)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count 1 ./protocol/...
	$(GO) test -run '^$$' -bench 'Choose' -benchmem -count 1 ./agent/service/
	$(GO) test -run '^$$' -bench 'AgentOverMQTT' -benchtime 2500x -count 1 ./agent/cmd/posoffer-agent/

lint: ## gofmt, go mod tidy, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy"; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

fuzz: ## run each fuzzer for FUZZTIME (default 30s)
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $${FUZZTIME:-30s} ./protocol/offer/
	$(GO) test -run '^$$' -fuzz '^FuzzEvaluate$$' -fuzztime $${FUZZTIME:-30s} ./protocol/offer/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $${FUZZTIME:-30s} ./protocol/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $${FUZZTIME:-30s} ./protocol/catalogsig/
	$(GO) test -run '^$$' -fuzz '^FuzzContainsCardData$$' -fuzztime $${FUZZTIME:-30s} ./protocol/
	$(GO) test -run '^$$' -fuzz '^FuzzAgentToHQ$$' -fuzztime $${FUZZTIME:-30s} ./internal/conformance/
	$(GO) test -run '^$$' -fuzz '^FuzzDecoder$$' -fuzztime $${FUZZTIME:-30s} ./protocol/frame/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeKV$$' -fuzztime $${FUZZTIME:-30s} ./agent/firmware/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeJSON$$' -fuzztime $${FUZZTIME:-30s} ./agent/firmware/
	$(GO) test -run '^$$' -fuzz '^FuzzBodies$$' -fuzztime $${FUZZTIME:-30s} ./cloud/api/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $${FUZZTIME:-30s} ./agent/mqtt/passwd/

demo: build ## run an agent on the sample catalog with simulated terminals
	deploy/demo.sh

sim: build ## run the shopper simulator: learned suggestions against the fixed rule and the oracle (BENCHMARKS.md)
	$(BIN)/posoffer-sim shoppers --chart

eval-demo: build ## evaluate the sample basket against the sample catalog
	$(BIN)/posoffer-agent eval --catalog deploy/sample/catalog.yaml --basket deploy/sample/basket.json \
		--tz Asia/Tokyo --store s001

clean: ## remove build output
	rm -rf $(BIN)
