#!/usr/bin/env bash
# Installs moto's server (PyPI) and starts it on 127.0.0.1:${MOTO_PORT:-5000}
# for the SQS tests, unless something already answers there. Idempotent.
#   o11y-queue/scripts/moto.sh            # start (or reuse) the server
#   o11y-queue/scripts/moto.sh stop       # stop the server this script started
set -euo pipefail

port="${MOTO_PORT:-5000}"
state="${XDG_RUNTIME_DIR:-/tmp}/o11y-moto-${port}"
venv="${MOTO_VENV:-$HOME/.cache/o11y-moto-venv}"

up() { curl -fsS -o /dev/null "http://127.0.0.1:${port}/moto-api/" 2>/dev/null; }

if [[ "${1:-start}" == "stop" ]]; then
  if [[ -f "$state.pid" ]]; then kill "$(cat "$state.pid")" 2>/dev/null || true; rm -f "$state.pid"; fi
  exit 0
fi

if up; then echo "moto already listening on 127.0.0.1:${port}"; exit 0; fi

if ! command -v moto_server >/dev/null 2>&1 && [[ ! -x "$venv/bin/moto_server" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'moto[server]'
fi
bin="$(command -v moto_server || echo "$venv/bin/moto_server")"

nohup "$bin" -H 127.0.0.1 -p "$port" >"$state.log" 2>&1 &
echo $! >"$state.pid"
for _ in $(seq 1 100); do
  if up; then echo "moto started on 127.0.0.1:${port} (pid $(cat "$state.pid"))"; exit 0; fi
  sleep 0.2
done
echo "moto did not start; see $state.log" >&2
exit 1
