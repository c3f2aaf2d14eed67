#!/usr/bin/env bash
# Quick start: install what is missing, build, start the queue server on the embedded SQLite
# database with a demo project, and open the desktop app signed in as a demo annotator.
# Stop with Ctrl-C or by closing the app; the server stops with it. Data stays in ./tessera-data.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh run
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

echo "run: building (the first build takes a few minutes)"
(cd ui && npm run --silent build)
cargo build --workspace --bins --locked
target_dir="${CARGO_TARGET_DIR:-target}"
tessera="$target_dir/debug/tessera"
desktop="$target_dir/debug/tessera-desktop"

export TESSERA_DATA_DIR="$PWD/tessera-data"
listen="${TESSERA_LISTEN:-127.0.0.1:7450}"
export TESSERA_SERVER="http://$listen"
(umask 077 && mkdir -p "$TESSERA_DATA_DIR")

"$tessera" serve --data-dir "$TESSERA_DATA_DIR" --listen "$listen" >>"$TESSERA_DATA_DIR/server.log" 2>&1 &
server_pid=$!
pids=("$server_pid")
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
  curl -fsS "$TESSERA_SERVER/api/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "run: the server failed to start:"; tail -n 20 "$TESSERA_DATA_DIR/server.log"; exit 1; }
  sleep 0.1
done
echo "run: server on $TESSERA_SERVER (log: tessera-data/server.log)"

project=$("$tessera" project list | awk -F'\t' '$2 == "Demo: sentiment" { print $1; exit }')
if [ -z "$project" ]; then
  project=$("$tessera" project create "Demo: sentiment" --schema demo/schema.json)
  "$tessera" upload "$project" demo/sentiment.jsonl
  echo "run: created demo project $project"
fi

token_file="$TESSERA_DATA_DIR/annotator.token"
if [ ! -s "$token_file" ]; then
  (umask 077 && "$tessera" token create --role annotator --name demo-annotator >"$token_file")
fi

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display found; starting the app on a virtual display (Xvfb :77)"
  Xvfb :77 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  pids+=("$!")
  export DISPLAY=:77
  sleep 1
fi

echo "run: opening the desktop app as demo-annotator on project $project"
echo "run: requester commands work meanwhile, e.g.  $tessera status $project"
TESSERA_TOKEN="$(cat "$token_file")" TESSERA_PROJECT="$project" TESSERA_HOME="$TESSERA_DATA_DIR/desktop" "$desktop"
