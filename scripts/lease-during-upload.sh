#!/usr/bin/env bash
# How long an annotator's lease waits while a big batch is stored (SQLite holds one writer):
# a release `tessera serve` on a temp dir, a project with 20,000 tasks, one annotator asking
# for a lease every 10 ms for 14 s, and a 1,000,000-task upload (105 MB of JSONL) 2 s in.
# Prints the upload time and the leases' p50, p99 and longest wait.
#
#   bash scripts/lease-during-upload.sh          # TASKS=N to resize the upload
set -euo pipefail
cd "$(dirname "$0")/.."
tasks=${TASKS:-1000000}
cargo build --release --quiet -p tessera-cli
bin=$PWD/target/release/tessera
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --data-dir "$work" --listen "127.0.0.1:$port" 2>"$work/server.log" &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
export TESSERA_SERVER=http://127.0.0.1:$port TESSERA_DATA_DIR=$work
for _ in $(seq 50); do curl -sf "$TESSERA_SERVER/api/health" >/dev/null && break; sleep 0.2; done

python3 - "$work" "$tasks" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
def write(path, prefix, count):
    with open(path, "w") as f:
        for i in range(count):
            f.write(json.dumps({"id": f"{prefix}{i}", "data": {"text": f"sentence number {i}, a little longer than a tweet"}}) + "\n")
write(f"{work}/first.jsonl", "a", 20000)
write(f"{work}/big.jsonl", "b", n)
PY
echo '{"kind":"classification","labels":["positive","negative","neutral"],"overlap":3}' >"$work/schema.json"
project=$("$bin" project create live --schema "$work/schema.json")
"$bin" upload "$project" "$work/first.jsonl" >/dev/null
token=$("$bin" token create --role annotator --name ann)

python3 - "$port" "$project" "$token" >"$work/leases.txt" <<'PY' &
import sys, time, urllib.request
port, project, token = sys.argv[1:]
end, waits = time.time() + 14, []
while time.time() < end:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/projects/{project}/leases", data=b'{"limit":1}',
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    start = time.perf_counter()
    urllib.request.urlopen(req).read()
    waits.append((time.perf_counter() - start) * 1000)
    time.sleep(0.01)
waits.sort()
print(f"leases {len(waits)}: p50 {waits[len(waits) // 2]:.1f} ms, p99 {waits[int(len(waits) * 0.99)]:.1f} ms, longest {waits[-1]:.1f} ms")
PY
leases=$!
sleep 2
start=$(date +%s.%N)
"$bin" upload "$project" "$work/big.jsonl"
echo "upload of $tasks tasks: $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$start" "$(date +%s.%N)") s"
wait $leases
cat "$work/leases.txt"
