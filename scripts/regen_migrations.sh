#!/usr/bin/env bash
# While nothing is deployed, the schema is one initial migration: regenerate it after a
# model change (for SQLite and PostgreSQL). Serialised with flock so parallel runs don't
# clobber each other. Once deployed, add migrations with scripts/makemigration.py NAME.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/zc-regen-migrations.lock
flock 9
rm -f migrations/models/*.py
.venv/bin/python scripts/makemigration.py init 2>&1 | grep -v RuntimeWarning || true
ls migrations/models/
