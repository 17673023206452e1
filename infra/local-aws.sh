#!/usr/bin/env bash
# A local stand-in for billsync's AWS resources, for `cargo lambda watch` and
# `cargo lambda invoke`: a moto server on 127.0.0.1:5005 with the table, the FIFO queue and the
# tenant's two secrets, plus the NetSuite and Maxio simulators they point at, and the `acme`
# tenant from infra/tenants/local.json. Addresses match [workspace.metadata.lambda.env] in
# Cargo.toml.
#
#   infra/local-aws.sh start    # start everything (PIDs in infra/.local/)
#   infra/local-aws.sh stop     # stop exactly those processes
set -euo pipefail
cd "$(dirname "$0")/.."
state=infra/.local
mkdir -p "$state"

export AWS_ENDPOINT_URL=http://127.0.0.1:5005 AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing TABLE_NAME=billsync-local
webhook_key=local-webhook-shared-key

stop() {
  for name in moto netsuite-sim billing-sim; do
    if [ -f "$state/$name.pid" ]; then
      kill "$(cat "$state/$name.pid")" 2>/dev/null || true
      rm -f "$state/$name.pid"
    fi
  done
}

wait_for() { # url
  for _ in $(seq 120); do
    python3 -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "nothing answers on $1" >&2
  return 1
}

start() {
  stop
  # A failed start leaves nothing running.
  trap 'stop' ERR
  python3 -c 'import moto.server, boto3' 2>/dev/null \
    || python3 -m pip install --quiet 'moto[server]>=5' \
    || python3 -m pip install --quiet --break-system-packages 'moto[server]>=5'
  cargo build -q -p netsuite-sim -p billing-sim -p billsync-cli

  python3 scripts/moto_atomic.py -H 127.0.0.1 -p 5005 >"$state/moto.log" 2>&1 &
  echo $! >"$state/moto.pid"
  ./target/debug/netsuite-sim --port 8787 --seed-demo >"$state/netsuite-sim.log" 2>&1 &
  echo $! >"$state/netsuite-sim.pid"
  MAXIO_WEBHOOK_SHARED_KEY=$webhook_key ./target/debug/billing-sim --port 8788 --invoices 50 >"$state/billing-sim.log" 2>&1 &
  echo $! >"$state/billing-sim.pid"
  wait_for http://127.0.0.1:5005/moto-api/
  wait_for http://127.0.0.1:8787/admin/stats

  ./target/debug/billsync aws create-table
  python3 - "$webhook_key" <<'PY'
import json, sys, urllib.request
import boto3

key = sys.argv[1]
sqs = boto3.client("sqs")
for name in ("billsync-local-invoices-dlq.fifo", "billsync-local-invoices.fifo"):
    sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})
# The simulators' defaults (fake credentials); see `netsuite-sim --help`.
ns = json.load(urllib.request.urlopen("http://127.0.0.1:8787/admin/config"))
secret = {
    "netsuite": {
        "account_id": ns.get("account_id", "TSTDRV1234567"),
        "consumer_key": "sim-consumer-key-not-a-real-key",
        "consumer_secret": "sim-consumer-secret-not-a-real-secret",
        "token_id": "sim-token-id-not-a-real-token",
        "token_secret": "sim-token-secret-not-a-real-secret",
        "base_url": "http://127.0.0.1:8787",
    },
    "billing": {
        "api_key": "sim-maxio-api-key-not-a-real-key",
        "base_url": "http://127.0.0.1:8788/",
    },
}
sm = boto3.client("secretsmanager")
sm.create_secret(Name="billsync/acme", SecretString=json.dumps(secret))
# The webhook function reads only this one.
sm.create_secret(Name="billsync/webhook/acme", SecretString=json.dumps({"webhook_key": key}))
PY
  ./target/debug/billsync tenant apply infra/tenants/local.json --aws
  trap - ERR
  echo "local AWS on $AWS_ENDPOINT_URL, NetSuite simulator on :8787, Maxio simulator on :8788"
  echo "stop with: infra/local-aws.sh stop"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
