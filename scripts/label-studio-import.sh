#!/usr/bin/env bash
# Label Studio's own server takes what Tessera exports: for each Label Studio file of the
# corpus, a Tessera project takes it in, exports it as Label Studio JSON with its labeling
# config, and a real Label Studio server (pip `label-studio`, in a venv of its own, started
# headless on loopback) creates a project from that config and imports the export; the
# tasks, annotations and predictions it then holds must be the export's. Not in the suite
# (Label Studio takes minutes to install and half a minute to start): run it by hand, or in
# CI beside the suite. Prints one line per file and "label-studio-import: ok" at the end.
#
#   bash scripts/label-studio-import.sh        # LS_VENV=DIR to reuse a venv
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${LS_VENV:-$HOME/.cache/tessera/venv-label-studio-server}"
if [ ! -x "$venv/bin/label-studio" ]; then
  echo "label-studio-import: installing label-studio into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "label-studio==1.23.2"
fi
cargo build --quiet -p tessera-cli
tessera="${CARGO_TARGET_DIR:-target}/debug/tessera"

work=$(mktemp -d /tmp/tessera-ls-import.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Tessera, on a throwaway SQLite database.
tport=$(free_port)
"$tessera" serve --data-dir "$work/tessera" --listen "127.0.0.1:$tport" >"$work/tessera.log" 2>&1 &
pids+=($!)
export TESSERA_SERVER="http://127.0.0.1:$tport"
for _ in $(seq 50); do [ -s "$work/tessera/admin.token" ] && break; sleep 0.2; done
TESSERA_TOKEN=$(cat "$work/tessera/admin.token")
export TESSERA_TOKEN

# Label Studio, headless, with a known user and token (the admin who imports).
lport=$(free_port)
ls_token=tessera0import0test0token000000000000000
LABEL_STUDIO_USERNAME=tessera@example.com LABEL_STUDIO_PASSWORD=tessera-import-test \
  LABEL_STUDIO_USER_TOKEN=$ls_token COLLECT_ANALYTICS=false LABEL_STUDIO_BASE_DATA_DIR="$work/ls" \
  "$venv/bin/label-studio" start --internal-host 127.0.0.1 --port "$lport" --no-browser \
  --data-dir "$work/ls" --enable-legacy-api-token >"$work/ls.log" 2>&1 &
pids+=($!)
ls_url="http://127.0.0.1:$lport"
for _ in $(seq 120); do curl -fs "$ls_url/health" >/dev/null 2>&1 && break; sleep 1; done
curl -fs "$ls_url/health" >/dev/null || { echo "Label Studio did not start:"; tail -20 "$work/ls.log"; exit 1; }

check() { # FILE SCHEMA_JSON
  local file=$1 schema=$2 name
  name=$(basename "$file" .json)
  echo "$schema" >"$work/$name.schema.json"
  local project
  project=$("$tessera" project create "$name" --schema "$work/$name.schema.json")
  "$tessera" upload "$project" "$file" --lenient >/dev/null
  "$tessera" export "$project" --format ls-json -o "$work/$name.ls.json" 2>/dev/null
  "$tessera" export "$project" --format ls-config -o "$work/$name.ls.xml" 2>/dev/null
  python3 - "$ls_url" "$ls_token" "$work/$name.ls.json" "$work/$name.ls.xml" "$name" <<'PY'
import json, sys, urllib.error, urllib.request
url, token, export, config, name = sys.argv[1:]
def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Token " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        sys.exit(f"{name}: Label Studio refused {method} {path}: {e.code} {e.read().decode()[:2000]}")
tasks = json.load(open(export))
# Label Studio takes an annotation's author by email only when it names an existing user:
# the people of the export are made first, as an admin moving a team in would.
people = {a["completed_by"]["email"] for t in tasks for a in t["annotations"] if "completed_by" in a}
known = {u["email"] for u in call("GET", "/api/users/")}
for email in sorted(people - known):
    call("POST", "/api/users/", {"email": email, "username": email})
project = call("POST", "/api/projects", {"title": name, "label_config": open(config).read()})
call("POST", f"/api/projects/{project['id']}/import", tasks)
stored = call("GET", f"/api/projects/{project['id']}/export?exportType=JSON")
got = (len(stored), sum(len(t["annotations"]) for t in stored), sum(len(t.get("predictions", [])) for t in stored))
want = (len(tasks), sum(len(t["annotations"]) for t in tasks), sum(len(t["predictions"]) for t in tasks))
regions = lambda ts: sorted(len(a["result"]) for t in ts for a in t["annotations"])
assert got == want, f"{name}: Label Studio holds {got} (tasks, annotations, predictions), the export {want}"
assert regions(stored) == regions(tasks), f"{name}: regions per annotation differ"
print(f"{name}: {got[0]} tasks, {got[1]} annotations, {got[2]} predictions imported into Label Studio")
PY
}

corpus=tests/corpus/label-studio
check "$corpus/choices-history.json" '{"kind": "classification", "labels": ["Positive", "Negative", "Neutral"]}'
check "$corpus/boxes-predictions.json" '{"kind": "boxes", "labels": ["Car"]}'
check "$corpus/boxes-two-annotators.json" '{"kind": "boxes", "labels": ["parasites", "white"]}'
check "$corpus/ner-completions-0x.json" '{"kind": "spans", "labels": ["INGREDIENT"]}'
echo "label-studio-import: ok"
