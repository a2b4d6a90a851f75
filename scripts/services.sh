#!/usr/bin/env bash
# Start the services the test suite needs (Redis, PostgreSQL) when they are not already running.
# The tests never skip for a missing service: they fail, so this runs before them.
set -euo pipefail

# Servers named explicitly are the caller's business: nothing to start.
if [[ -n "${GATE_TEST_REDIS_URL:-}" && -n "${GATE_TEST_POSTGRES_URL:-}" ]]; then
    exit 0
fi

REDIS_PORT="${REDIS_PORT:-6379}"
PG_PORT="${PG_PORT:-5432}"

if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    echo "starting redis on 127.0.0.1:$REDIS_PORT"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no
fi

if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    echo "starting postgresql on 127.0.0.1:$PG_PORT"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi

for _ in $(seq 1 50); do
    if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
        exit 0
    fi
    sleep 0.2
done
echo "services did not come up: redis $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>&1), postgres $(pg_isready -h 127.0.0.1 -p "$PG_PORT" 2>&1)" >&2
exit 1
