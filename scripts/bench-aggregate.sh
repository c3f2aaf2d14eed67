#!/usr/bin/env bash
# The aggregator benchmark: a seeded synthetic Dawid–Skene crowd of 1,000,000
# answers (200,000 tasks × 5, 2,000 workers with skewed activity, 5 classes, 10% spammers),
# aggregated by the `tessera` process (whole run: read, fit, write; median of 5) and — when a
# Python venv with crowd-kit exists — by crowd-kit (its fit alone), alternating with more
# tessera runs so that the ratio compares the two in the same minutes. Prints times,
# accuracies, peak memory and the ratios.
#
#   bash scripts/bench-aggregate.sh
#
# crowd-kit venv (optional; default .venv-crowdkit, or set CROWDKIT_VENV):
#   python3 -m venv .venv-crowdkit
#   .venv-crowdkit/bin/pip install crowd-kit "scikit-learn<1.6" "pandas<3" "numpy<2.3"
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${CROWDKIT_VENV:-.venv-crowdkit}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet -p tessera-cli
cargo run --release --quiet -p tessera-core --example synthetic_crowd -- "$work"

# accuracy PREDICTIONS.csv: share of gold tasks whose label matches.
accuracy() {
    python3 - "$work/gold.csv" "$1" <<'PY'
import csv, sys
gold = {r["task"]: r["label"] for r in csv.DictReader(open(sys.argv[1]))}
pred = {r["task"]: r["label"] for r in csv.DictReader(open(sys.argv[2]))}
print(f"{sum(pred.get(t) == l for t, l in gold.items()) / len(gold):.4f}")
PY
}

# Wall seconds (the median of 5 runs: a 0.5 s process on a shared machine varies by ±20%
# from run to run) and peak RSS (KiB) of the tessera process.
run_tessera() {
    python3 - "$1" "$work" <<'PY'
import resource, statistics, subprocess, sys, time
method, work = sys.argv[1], sys.argv[2]
times = []
for _ in range(5):
    # The output file is opened (and the last run's truncated) before the clock starts:
    # freeing the last run's pages is not this run's work.
    with open(f"{work}/tessera-{method}.csv", "w") as out:
        start = time.perf_counter()
        subprocess.run(["target/release/tessera", "aggregate", f"{work}/answers.csv",
                        "--method", method], stdout=out, check=True)
        times.append(time.perf_counter() - start)
print(f"{statistics.median(times):.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}

declare -A t_sec t_mem t_acc c_sec c_mem c_acc p_sec p_ratio
for method in ds mv; do
    read -r t_sec[$method] t_mem[$method] < <(run_tessera "$method")
    t_acc[$method]=$(accuracy "$work/tessera-$method.csv")
done

have_crowdkit=false
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import crowdkit" 2>/dev/null; then
    have_crowdkit=true
    for method in ds mv; do
        read -r c_sec[$method] c_mem[$method] p_sec[$method] p_ratio[$method] < <(
            "$venv/bin/python" - "$method" "$work" <<'PY'
# Rounds of crowd-kit's fit and three tessera runs, alternating, so that both are timed in
# the same minutes: this machine's speed drifts by 20-40% over minutes. tessera is started
# with posix_spawn, which (unlike fork) does not copy this 0.5 GB process first.
import os, resource, statistics, sys, time
import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote
method, work = sys.argv[1], sys.argv[2]
df = pd.read_csv(f"{work}/answers.csv", dtype=str)

def tessera():
    fd = os.open(f"{work}/tessera-{method}.csv", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    start = time.perf_counter()
    pid = os.posix_spawn("target/release/tessera",
                         ["tessera", "aggregate", f"{work}/answers.csv", "--method", method],
                         os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1)])
    _, status = os.waitpid(pid, 0)
    seconds = time.perf_counter() - start
    os.close(fd)
    if status != 0:
        sys.exit(f"tessera failed: status {status}")
    return seconds

fits, runs, ratios = [], [], []
for _ in range(1 if method == "ds" else 5):
    run = statistics.median(tessera() for _ in range(3))
    model = DawidSkene(n_iter=100) if method == "ds" else MajorityVote()
    start = time.perf_counter()
    labels = model.fit_predict(df)
    fits.append(time.perf_counter() - start)
    runs.append(run)
    ratios.append(fits[-1] / run)
labels.rename("label").reset_index().rename(columns={"index": "task"}).to_csv(
    f"{work}/crowdkit-{method}.csv", index=False)
print(f"{statistics.median(fits):.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}"
      f" {statistics.median(runs):.3f} {statistics.median(ratios):.1f}")
PY
)
        c_acc[$method]=$(accuracy "$work/crowdkit-$method.csv")
    done
fi

echo
echo "1,000,000 answers (200,000 tasks x 5, 2,000 workers, 5 classes, 10% spammers)"
for method in ds mv; do
    printf '%-3s tessera (whole process): %7.3f s  accuracy %s  peak %6d MiB\n' \
        "$method" "${t_sec[$method]}" "${t_acc[$method]}" $((t_mem[$method] / 1024))
    if $have_crowdkit; then
        printf '%-3s crowd-kit (fit only):    %7.3f s  accuracy %s  peak %6d MiB\n' \
            "$method" "${c_sec[$method]}" "${c_acc[$method]}" $((c_mem[$method] / 1024))
        printf '    in the same minutes as those fits, tessera: %.3f s\n' "${p_sec[$method]}"
        printf '    ratio: tessera %sx faster (median over rounds of one fit against three tessera runs)\n' \
            "${p_ratio[$method]}"
    fi
done
$have_crowdkit || echo "(no crowd-kit venv at $venv: see the header of this script to make one)"
