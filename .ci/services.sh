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

if ! up 5672; then
  echo "starting rabbitmq"
  rabbitmq-server -detached || true
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
