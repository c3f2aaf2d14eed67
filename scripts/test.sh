#!/usr/bin/env bash
# The whole test suite, from a fresh Debian/Ubuntu machine: installs what is missing, then runs
# lints, UI unit tests, Rust unit and integration tests, the offline CLI scenario and the
# desktop end-to-end test in a real window under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh test
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

# In CI, keep the build cache outside the clone so that later runs rebuild only what changed.
if [ "${CI:-}" = "true" ] && [ -z "${CARGO_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="$HOME/.cache/tessera/target"
fi

# PostgreSQL for the conformance tests: the server named by TESSERA_TEST_DATABASE_URL, or a
# throwaway cluster (initdb + pg_ctl in a temp dir, on a free port), stopped on exit.
if [ -z "${TESSERA_TEST_DATABASE_URL:-}" ]; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$pg_bin/initdb" ] || { echo "test: PostgreSQL's initdb not found"; exit 1; }
  pg_dir=$(mktemp -d /tmp/tessera-pg.XXXXXX)
  pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_pg=()
  # PostgreSQL refuses to run as root: run it as the postgres user the package created.
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$pg_dir"; as_pg=(runuser -u postgres --); fi
  "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U tessera -A trust --no-sync >/dev/null
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  trap '"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pg_dir"' EXIT
  export TESSERA_TEST_DATABASE_URL="postgres://tessera@127.0.0.1:$pg_port/postgres"
  echo "test: throwaway PostgreSQL cluster on port $pg_port"
fi

# Label Studio's own converter (the label-studio-sdk package), which the format tests feed
# Tessera's Label Studio exports. Pinned; kept outside the clone like the build cache.
ls_venv="${TESSERA_LABEL_STUDIO_VENV:-$HOME/.cache/tessera/venv-label-studio}"
if [ ! -x "$ls_venv/bin/label-studio-converter" ]; then
  echo "test: installing label-studio-sdk into $ls_venv"
  python3 -m venv "$ls_venv"
  "$ls_venv/bin/pip" install --quiet --disable-pip-version-check "label-studio-sdk==2.1.2"
fi
export TESSERA_LABEL_STUDIO_VENV="$ls_venv"

# spaCy itself, which writes the DocBin files the format tests read. Pinned; kept outside
# the clone too.
spacy_venv="${TESSERA_SPACY_VENV:-$HOME/.cache/tessera/venv-spacy}"
if ! "$spacy_venv/bin/python" -c "import spacy" >/dev/null 2>&1; then
  echo "test: installing spaCy into $spacy_venv"
  python3 -m venv "$spacy_venv"
  "$spacy_venv/bin/pip" install --quiet --disable-pip-version-check "spacy==3.8.18"
fi
export TESSERA_SPACY_VENV="$spacy_venv"

# Label Studio's ML backend package (a real backend for the model tests is built on it; it
# imports rq without declaring it) and the Standard Webhooks reference verifier, which checks
# every webhook Tessera signs. Pinned; kept outside the clone too.
ml_venv="${TESSERA_ML_VENV:-$HOME/.cache/tessera/venv-ml}"
if ! "$ml_venv/bin/python" -c "import label_studio_ml.api, standardwebhooks" >/dev/null 2>&1; then
  echo "test: installing label-studio-ml and standardwebhooks into $ml_venv"
  python3 -m venv "$ml_venv"
  "$ml_venv/bin/pip" install --quiet --disable-pip-version-check \
    "label-studio-ml==1.0.9" "rq==3.0.0" "standardwebhooks==1.3.0"
fi
export TESSERA_ML_VENV="$ml_venv"

# The desktop end-to-end tests photograph each screen they check into docs/ (the README's and
# the docs' screenshots): a run refreshes them.
export TESSERA_SCREENSHOT_DIR="${TESSERA_SCREENSHOT_DIR:-$PWD/docs}"

echo "== UI: type check, build, unit tests"
(cd ui && npm run --silent build && npm test --silent)

echo "== Rust: format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== Rust: binaries the end-to-end tests drive"
cargo build --workspace --bins --locked

echo "== Rust: unit, integration and end-to-end tests"
log=$(mktemp)
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite (cargo prints one per test binary, the last often a
# doc-test run with nothing in it).
read -r passed failed < <(grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$log" |
  awk '{ p += $4; f += $6 } END { print p + 0, f + 0 }')
rm -f "$log"

echo "== API: schemathesis against the server's own OpenAPI document"
if scripts/api-fuzz.sh; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  status=1
fi

echo "== Packages: build both .debs, install them in a fresh Debian root, start them there"
dist=$(mktemp -d /tmp/tessera-dist.XXXXXX)
if scripts/package.sh "$dist" && scripts/check-packages.sh "$dist"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  status=1
fi
rm -rf "$dist"
echo "Tests: $passed passed, $failed failed"
exit "$status"
