#!/bin/sh
# The compose `server` (docker-compose.yml): `udplab serve` with its identity in /identity (a volume: the key
# survives `down` and rebuilds, not `down -v`) and its PUBLIC key published in /pub as known_hosts lines for the
# names clients use (server:4455, relay:4456). Clients mount /pub read-only: the key reaches them through a
# channel the operator controls (the volume), not on first use, and the private key never leaves this container.
set -eu
key=/identity/server.key
port=${UDPLAB_PORT:-4455}
relay_port=${UDPLAB_RELAY_PORT:-4456}
[ -f "$key" ] || udplab keygen --out "$key" >/dev/null
pub=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).public' "$key")
tmp=/pub/.known_hosts.$$
printf 'server:%s %s\nrelay:%s %s\n' "$port" "$pub" "$relay_port" "$pub" >"$tmp"
mv "$tmp" /pub/known_hosts
exec udplab serve --root /srv/udplab --identity "$key" --port "$port" "$@"
