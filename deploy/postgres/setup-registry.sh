#!/bin/sh
# One-shot `registry-db` service (postgres image, for psql): makes sure the registry has its own
# login role and database, apart from Temporal's. Safe on every start: the role and database are
# created only when missing, and the role's password is set to IDRI_DB_PASSWORD each time, so
# changing that variable and restarting the stack rotates it. The tables are the worker's job
# (its migrations run when it starts).
set -eu

: "${PGHOST:?PGHOST must name the PostgreSQL host}"
: "${PGUSER:?PGUSER must be a PostgreSQL superuser}"
: "${IDRI_DB_PASSWORD:?IDRI_DB_PASSWORD must be set}"
role="${IDRI_DB_USER:-idri}"
database="${IDRI_DB_NAME:-idri}"

attempt=1
until pg_isready --quiet --dbname=postgres; do
  if [ "$attempt" -ge 30 ]; then
    echo "PostgreSQL at $PGHOST did not answer; is the postgresql service healthy?" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 2
done

psql --no-psqlrc --set=ON_ERROR_STOP=1 --dbname=postgres \
  --set=role="$role" --set=database="$database" --set=password="$IDRI_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
SQL
echo "registry database $database (owner $role) is ready"
