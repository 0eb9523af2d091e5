#!/usr/bin/env bash
# The demo: an agent with its embedded MQTT broker serving the sample
# catalog, and simulated terminals shopping at it. Run from the repository
# root after `make build` (make demo does both).
set -euo pipefail

http=127.0.0.1:18787
broker=127.0.0.1:18830
duration=${DEMO_DURATION:-15s}
dir=$(mktemp -d)
agent=
cleanup() {
	[ -n "$agent" ] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

head -c 32 /dev/urandom > "$dir/tenant.key"
cat > "$dir/agent.yaml" <<YAML
version: 1
store: s001
timezone: Asia/Tokyo
data_dir: $dir/data
tenant_key_file: $dir/tenant.key
catalog_file: deploy/sample/catalog.yaml
http: {listen: "$http"}
mqtt: {listen: "$broker"}
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
