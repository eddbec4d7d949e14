#!/usr/bin/env bash
# Starts, if they are down, the local services the tests talk to (127.0.0.1
# only): Redis, RabbitMQ, PostgreSQL, and moto_server for SQS. Idempotent.
set -uo pipefail

wait_port() { # host port seconds
  local i
  for ((i = 0; i < $3 * 4; i++)); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.25
  done
  return 1
}

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! up 6379; then
  echo "starting redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_port 127.0.0.1 6379 30 || echo "WARNING: redis did not come up"
fi
echo "redis: $(up 6379 && echo up || echo DOWN)"

# The broker's process id, from the pid file it writes.
rabbit_pid() {
  local f
  for f in "${RABBITMQ_PID_FILE:-}" /var/lib/rabbitmq/mnesia/*.pid; do
    if [ -n "$f" ] && [ -s "$f" ]; then
      cat "$f"
      return 0
    fi
  done
  return 1
}

# Stops the broker (killing it by its pid when it does not answer), starts it.
restart_rabbitmq() {
  echo "restarting rabbitmq"
  timeout 60 rabbitmqctl stop >/dev/null 2>&1
  local pid i
  if pid=$(rabbit_pid) && kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"
    for ((i = 0; i < 40; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  rabbitmq-server -detached || true
  wait_port 127.0.0.1 5672 120 || echo "WARNING: rabbitmq did not come up"
}

if up 5672; then
  # A port that accepts is not a broker that answers (it wedged once under
  # thousands of leftover quorum queues).
  if ! timeout 30 rabbitmqctl status >/dev/null 2>&1; then
    echo "rabbitmq: port 5672 open but rabbitmqctl status fails or hangs"
    restart_rabbitmq
  fi
else
  echo "starting rabbitmq"
  # The node may be running with its app stopped (a stop_app left undone).
  timeout 120 rabbitmqctl start_app >/dev/null 2>&1 || rabbitmq-server -detached || true
  wait_port 127.0.0.1 5672 90 || echo "WARNING: rabbitmq did not come up"
fi
echo "rabbitmq: $(up 5672 && echo up || echo DOWN)"

if ! up 5432; then
  echo "starting postgresql"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_port 127.0.0.1 5432 30 || echo "WARNING: postgresql did not come up"
fi
echo "postgresql: $(up 5432 && echo up || echo DOWN)"

if ! up 5000; then
  if ! command -v moto_server >/dev/null 2>&1; then
    echo "installing moto[server]"
    python3 -m pip install --quiet 'moto[server]' || echo "WARNING: pip install moto failed"
    hash -r
  fi
  moto=$(command -v moto_server || echo "")
  if [ -n "$moto" ]; then
    echo "starting moto_server"
    nohup "$moto" -H 127.0.0.1 -p 5000 >/tmp/o11y-moto.log 2>&1 &
    wait_port 127.0.0.1 5000 60 || echo "WARNING: moto_server did not come up"
  fi
fi
echo "moto (sqs): $(up 5000 && echo up || echo DOWN)"
exit 0
