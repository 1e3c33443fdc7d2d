#!/bin/sh
# One-shot `temporal-schema` service (temporalio/admin-tools image): creates Temporal's two
# PostgreSQL databases when they are missing and applies the schema versions they lack.
# Safe on every start: existing databases are kept and update-schema only applies newer versions,
# so upgrading the image tags in docker-compose.yml also upgrades the schema.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS must name the PostgreSQL host}"
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${SQL_PASSWORD:?SQL_PASSWORD must hold the password of POSTGRES_USER}"
port="${DB_PORT:-5432}"
schemas=/etc/temporal/schema/postgresql/v12

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$port" -u "$POSTGRES_USER" "$@"
}

attempt=1
until nc -z -w 5 "$POSTGRES_SEEDS" "$port"; do
  if [ "$attempt" -ge 30 ]; then
    echo "PostgreSQL at $POSTGRES_SEEDS:$port did not answer; is the postgresql service healthy?" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 2
done

for pair in temporal:temporal temporal_visibility:visibility; do
  database=${pair%%:*}
  schema=${pair#*:}
  if output=$(sql_tool --db "$database" create 2>&1); then
    echo "database $database is there"
  elif printf '%s' "$output" | grep -q "already exists"; then
    echo "database $database already exists"
  else
    printf '%s\n' "$output" >&2
    exit 1
  fi
  sql_tool --db "$database" setup-schema -v 0.0
  sql_tool --db "$database" update-schema -d "$schemas/$schema/versioned"
done
echo "Temporal schema is up to date"
