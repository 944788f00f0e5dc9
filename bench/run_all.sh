#!/usr/bin/env bash
# Every bench, one after another (never two at once: they share the CPUs), on PostgreSQL +
# Redis; each prints its ratios to a bare baseline measured in the same run.
# Logs go to ${1:-bench-logs}/. Run it on a quiet machine; `uptime` is logged before and after.
set -u
cd "$(dirname "$0")/.."
out=${1:-bench-logs}
mkdir -p "$out"
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
uptime > "$out/uptime-start.txt"
.venv/bin/python bench/webhook_bench.py --requests 20000 > "$out/webhook.log" 2>&1
.venv/bin/python bench/eligibility_bench.py > "$out/eligibility.log" 2>&1
.venv/bin/python bench/eligibility_api_bench.py --requests 20000 > "$out/eligibility_api.log" 2>&1
.venv/bin/python bench/certificates_bench.py --rows 100000 --requests 20000 > "$out/certificates.log" 2>&1
.venv/bin/python bench/qr_bench.py > "$out/qr.log" 2>&1
.venv/bin/python bench/delivery_bench.py --messages 100000 > "$out/delivery.log" 2>&1
uptime > "$out/uptime-end.txt"
