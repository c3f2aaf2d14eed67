#!/usr/bin/env bash
# The HTTP API under schemathesis, a property-based API fuzzer: it reads the server's own
# OpenAPI document and sends generated requests, valid and not, to a real `tessera serve` on
# loopback. Passes only with no 5xx, no undocumented status code, and every response (status,
# media type, headers, body) as the document says. Bounded: EXAMPLES requests per operation
# and role (default 40), and TIMEOUT seconds in all (default 600). Longer run:
#   EXAMPLES=1000 TIMEOUT=3600 scripts/api-fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts="$PWD/scripts"
examples="${EXAMPLES:-40}"
limit="${TIMEOUT:-600}"
target_dir="${CARGO_TARGET_DIR:-target}"
tessera="$target_dir/debug/tessera"
[ -x "$tessera" ] || cargo build --locked --bin tessera

# schemathesis in its own virtual environment outside the clone, installed once.
venv="${TESSERA_FUZZ_VENV:-$HOME/.cache/tessera/venv-schemathesis}"
if [ ! -x "$venv/bin/st" ]; then
  echo "api-fuzz: installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi

work=$(mktemp -d /tmp/tessera-api-fuzz.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TESSERA_SERVER="http://127.0.0.1:$port" TESSERA_DATA_DIR="$work/data"
# Webhooks and ML backends the fuzzer makes point anywhere: they are kept, never called.
"$tessera" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --send-webhooks false \
  --run-models false >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "$TESSERA_SERVER/api/health" >/dev/null 2>&1 && break
  sleep 0.1
done

# Something to find: a project with tasks, a requester running it, an annotator working on it.
admin=$(cat "$work/data/admin.token")
requester=$("$tessera" token create --role requester --name fuzz-requester)
annotator=$("$tessera" token create --role annotator --name fuzz-annotator)
project=$(TESSERA_TOKEN="$requester" "$tessera" project create "fuzzed" --schema demo/schema.json)
TESSERA_TOKEN="$requester" "$tessera" upload "$project" demo/sentiment.jsonl >/dev/null
TESSERA_TOKEN="$annotator" HOME="$work" "$tessera" work checkout "$project" --limit 5 >/dev/null

checks=not_a_server_error,status_code_conformance,content_type_conformance
checks+=,response_headers_conformance,response_schema_conformance,missing_required_header
checks+=,unsupported_method,ignored_auth

status=0
for role in admin requester annotator; do
  token=${!role}
  echo "== api-fuzz: as $role, $examples examples per operation"
  # Revoking tokens would sign the fuzzer itself out; tests/people.rs covers it.
  # Run from the scratch folder: schemathesis keeps a cache in the folder it runs in.
  if ! (cd "$work" && PYTHONPATH="$scripts" SCHEMATHESIS_HOOKS=api_fuzz_hooks timeout "$limit" "$venv/bin/st" run "$TESSERA_SERVER/api/openapi.json" \
      --checks "$checks" -H "Authorization: Bearer $token" \
      --exclude-path "/api/tokens/{user_id}" \
      --max-examples "$examples" --seed 20261206 --no-color \
      --phases examples,coverage,fuzzing >"$work/st-$role.log" 2>&1); then
    status=1
    sed -n "/FAILURES/,\$p" "$work/st-$role.log" | head -n 150 || true
  fi
  grep -A 1 "^Test cases" "$work/st-$role.log" | tail -n 1 || true
  tail -n 1 "$work/st-$role.log"
done
if grep -q "panicked" "$work/server.log"; then
  echo "api-fuzz: the server panicked:"; grep -m 5 -A 3 "panicked" "$work/server.log"; status=1
fi
exit "$status"
