#!/usr/bin/env bash
# The demo: an agent with its embedded MQTT broker serving the sample
# catalog, simulated terminals shopping at it over MQTT, and a serial till
# (a Shift_JIS key=value model) on a virtual null-modem cable. Run from the
# repository root after `make build` (make demo does both).
set -euo pipefail

http=127.0.0.1:18787
broker=127.0.0.1:18830
duration=${DEMO_DURATION:-15s}
dir=$(mktemp -d)
agent=
cable=
cleanup() {
	[ -n "$agent" ] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
	[ -n "$cable" ] && kill "$cable" 2>/dev/null && wait "$cable" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

head -c 32 /dev/urandom > "$dir/tenant.key"
# A serial cable without hardware: the agent gets one end, the till the other.
bin/posoffer-sim null-modem --a "$dir/tty-agent" --b "$dir/tty-till" > /dev/null &
cable=$!
for _ in $(seq 50); do [ -e "$dir/tty-till" ] && break; sleep 0.1; done
cat > "$dir/agent.yaml" <<YAML
version: 1
store: s001
timezone: Asia/Tokyo
data_dir: $dir/data
tenant_key_file: $dir/tenant.key
catalog_file: deploy/sample/catalog.yaml
http: {listen: "$http"}
mqtt: {listen: "$broker"}
firmware_dir: $PWD/firmware-configs
serial:
  - {terminal: t20, port: $dir/tty-agent, model: hikari-kv300}
discovery: {advertise: false}
YAML

bin/posoffer-agent run --config "$dir/agent.yaml" 2> "$dir/agent.log" &
agent=$!
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/${http%:*}/${http#*:}") 2>/dev/null; then break; fi
	kill -0 "$agent" 2>/dev/null || { cat "$dir/agent.log"; exit 1; }
	sleep 0.1
done
echo "agent ready: MQTT on $broker, metrics on http://$http/metrics"
echo "4 terminals shopping for $duration; each line is a checkout and the offers it got:"
bin/posoffer-sim load --broker "tcp://$broker" --store s001 --terminals 4 --rate 20 --duration "$duration" --show
echo
echo "One basket, as a technician would send it:"
bin/posoffer-sim basket --broker "tcp://$broker" --store s001 --terminal t09 --file deploy/sample/basket.json
echo
echo "The same basket from a serial till (model hikari-kv300: Shift_JIS key=value frames):"
bin/posoffer-sim serial --port "$dir/tty-till" --model hikari-kv300 --file deploy/sample/basket.json
