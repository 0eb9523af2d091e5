#!/usr/bin/env bash
# The demo, on one machine: HQ (posoffer-cloud with its embedded NATS
# server and SQLite), a store's agent with its embedded MQTT broker that
# takes its catalog from HQ, simulated terminals shopping at it over MQTT,
# a serial till (a Shift_JIS key=value model) on a virtual null-modem
# cable, the redemptions as HQ received them, and then the dashboard on live
# data until Ctrl-C (DEMO_LIVE=0 stops after the redemptions). Run from the
# repository root after `make build` (make demo does both).
set -euo pipefail

hq_http=127.0.0.1:18080
hq_nats=127.0.0.1:14222
http=127.0.0.1:18787
broker=127.0.0.1:18830
duration=${DEMO_DURATION:-15s}
dir=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT

# waitfor HOST:PORT PID LOG: wait until the port answers, or show the log.
waitfor() {
	for _ in $(seq 150); do
		if (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; then return; fi
		kill -0 "$2" 2>/dev/null || { cat "$3"; exit 1; }
		sleep 0.1
	done
	echo "nothing answers on $1"; cat "$3"; exit 1
}

cat > "$dir/cloud.yaml" <<YAML
version: 1
data_dir: $dir/cloud
http: {listen: "$hq_http"}
nats: {listen: "$hq_nats"}
currency: JPY
timezone: Asia/Tokyo
YAML
bin/posoffer-cloud run --config "$dir/cloud.yaml" 2> "$dir/cloud.log" &
pids+=($!)
waitfor "$hq_http" "${pids[-1]}" "$dir/cloud.log"
bin/posoffer-cloud catalog push --config "$dir/cloud.yaml" --file deploy/sample/catalog.yaml
echo "HQ ready: NATS on $hq_nats, HTTP on http://$hq_http"
# The store's identity on HQ's NATS, as a technician makes it: its key and
# HQ's catalog key into a directory, and the agent's cloud: section.
bin/posoffer-cloud store add --config "$dir/cloud.yaml" --out "$dir/store-s001" s001 > "$dir/agent-cloud.yaml"

head -c 32 /dev/urandom > "$dir/tenant.key"
# A serial cable without hardware: the agent gets one end, the till the other.
bin/posoffer-sim null-modem --a "$dir/tty-agent" --b "$dir/tty-till" > /dev/null &
pids+=($!)
for _ in $(seq 50); do [ -e "$dir/tty-till" ] && break; sleep 0.1; done
cat > "$dir/agent.yaml" <<YAML
version: 1
store: s001
timezone: Asia/Tokyo
data_dir: $dir/data
tenant_key_file: $dir/tenant.key
http: {listen: "$http"}
mqtt: {listen: "$broker"}
firmware_dir: $PWD/firmware-configs
serial:
  - {terminal: t20, port: $dir/tty-agent, model: hikari-kv300}
discovery: {advertise: false}
YAML
# The cloud: section exactly as store add printed it.
cat "$dir/agent-cloud.yaml" >> "$dir/agent.yaml"
# Each till gets its own MQTT credential, as a store technician adds one:
# the secret is the last line of terminal add's output.
: > "$dir/terminals.txt"
for t in t01 t02 t03 t04 t09; do
	secret=$(bin/posoffer-agent terminal add --config "$dir/agent.yaml" "$t" | tail -n 1)
	echo "$t $secret" >> "$dir/terminals.txt"
	[ "$t" = t09 ] && printf '%s\n' "$secret" > "$dir/t09.secret"
done
chmod 600 "$dir/terminals.txt" "$dir/t09.secret"
echo "terminals t01-t04 and t09 added: bin/posoffer-agent terminal list --config agent.yaml"
bin/posoffer-agent run --config "$dir/agent.yaml" 2> "$dir/agent.log" &
pids+=($!)
waitfor "$http" "${pids[-1]}" "$dir/agent.log"
for _ in $(seq 100); do # ready once the catalog from HQ is in
	(exec 3<>"/dev/tcp/${http%:*}/${http#*:}" && printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && grep -q '200 OK' <&3) 2>/dev/null && break
	sleep 0.1
done
echo "agent ready: MQTT on $broker, status on http://$http/status"
echo "4 terminals shopping for $duration; each line is a checkout and the offers it got:"
bin/posoffer-sim load --broker "tcp://$broker" --store s001 --credentials "$dir/terminals.txt" --terminals 4 --rate 20 --duration "$duration" --show
echo
echo "One basket, as a technician would send it:"
bin/posoffer-sim basket --broker "tcp://$broker" --store s001 --terminal t09 --password-file "$dir/t09.secret" --file deploy/sample/basket.json
echo
echo "The same basket from a serial till (model hikari-kv300: Shift_JIS key=value frames):"
bin/posoffer-sim serial --port "$dir/tty-till" --model hikari-kv300 --file deploy/sample/basket.json
sleep 2 # the last checkouts on their way to HQ
echo
echo "At HQ, the newest redemptions from the store, and the totals per offer:"
bin/posoffer-cloud redemptions --config "$dir/cloud.yaml" --limit 5

# The dashboard, on live data: the tills keep shopping until Ctrl-C.
live=${DEMO_LIVE:-1h}
[ "$live" = 0 ] && exit 0
token=$(bin/posoffer-cloud token create --config "$dir/cloud.yaml" --role admin --name demo)
echo
echo "Dashboard: http://$hq_http/  (log in with the admin token below)"
echo "  $token"
echo "Terminals keep shopping for $live; press Ctrl-C to stop everything."
command -v xdg-open >/dev/null && xdg-open "http://$hq_http/" >/dev/null 2>&1 || true
bin/posoffer-sim load --broker "tcp://$broker" --store s001 --credentials "$dir/terminals.txt" --terminals 4 --rate 5 --duration "$live" > /dev/null
