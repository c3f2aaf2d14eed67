//! Prometheus metrics at `GET /metrics`: leases, answers, uploads, and latency histograms of
//! lease, push (sync) and upload requests. Counters live in the server's state (not a global
//! registry), so several servers in one process (the tests) keep their own.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A cumulative latency histogram in Prometheus' shape.
#[derive(Default)]
pub struct Histogram {
    /// Observations at or below each bound (not cumulative; summed when rendered).
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&bound| seconds <= bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Every metric the server exports.
#[derive(Default)]
pub struct Metrics {
    pub tasks_leased: AtomicU64,
    pub answers_accepted: AtomicU64,
    pub answers_duplicate: AtomicU64,
    pub answers_rejected: AtomicU64,
    pub tasks_uploaded: AtomicU64,
    /// Bytes of every upload body received, refused ones included.
    pub upload_bytes: AtomicU64,
    pub tasks_cancelled: AtomicU64,
    pub responses_4xx: AtomicU64,
    pub responses_5xx: AtomicU64,
    pub lease_seconds: Histogram,
    pub push_seconds: Histogram,
    /// Stored uploads, from the request to the reply.
    pub upload_seconds: Histogram,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: &AtomicU64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        };
        counter(
            &mut out,
            "tessera_tasks_leased_total",
            "Tasks handed out by lease requests (a held task handed out again counts again).",
            &self.tasks_leased,
        );
        let _ = writeln!(
            out,
            "# HELP tessera_answers_total Pushed answers by outcome.\n# TYPE tessera_answers_total counter"
        );
        for (status, value) in [
            ("accepted", &self.answers_accepted),
            ("duplicate", &self.answers_duplicate),
            ("rejected", &self.answers_rejected),
        ] {
            let _ = writeln!(
                out,
                "tessera_answers_total{{status=\"{status}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        counter(
            &mut out,
            "tessera_tasks_uploaded_total",
            "Tasks stored from uploaded batches.",
            &self.tasks_uploaded,
        );
        counter(
            &mut out,
            "tessera_upload_bytes_total",
            "Bytes of upload bodies received, refused uploads included.",
            &self.upload_bytes,
        );
        counter(
            &mut out,
            "tessera_tasks_cancelled_total",
            "Tasks cancelled by requesters.",
            &self.tasks_cancelled,
        );
        let _ = writeln!(
            out,
            "# HELP tessera_http_errors_total Error responses by class.\n# TYPE tessera_http_errors_total counter"
        );
        for (class, value) in [("4xx", &self.responses_4xx), ("5xx", &self.responses_5xx)] {
            let _ = writeln!(
                out,
                "tessera_http_errors_total{{class=\"{class}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        self.lease_seconds.render(
            &mut out,
            "tessera_lease_duration_seconds",
            "Time to answer a lease request.",
        );
        self.push_seconds.render(
            &mut out,
            "tessera_push_duration_seconds",
            "Time to store a pushed page of answers (sync latency).",
        );
        self.upload_seconds.render(
            &mut out,
            "tessera_upload_duration_seconds",
            "Time to receive, check and store an upload that was stored.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(20));
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.025\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.05\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
    }

    /// docs/operations.md names every series `/metrics` exports, with its label.
    #[test]
    fn docs_operations_md_names_every_series() {
        let dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            std::path::PathBuf::from,
        );
        let page = std::fs::read_to_string(dir.join("../../docs/operations.md"))
            .expect("docs/operations.md is readable");
        let rendered = Metrics::default().render();
        let mut series = std::collections::BTreeSet::new();
        for line in rendered.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line
                .split_whitespace()
                .nth(2)
                .expect("a TYPE line names its series");
            let label = rendered
                .lines()
                .find(|l| l.starts_with(&format!("{name}{{")) && !l.contains("le=\""))
                .and_then(|l| l.split_once('{'))
                .and_then(|(_, rest)| rest.split_once('='))
                .map(|(label, _)| label.to_owned());
            series.insert(match label {
                Some(label) => format!("`{name}{{{label}}}`"),
                None => format!("`{name}`"),
            });
        }
        assert!(series.len() >= 9, "{series:?}");
        for s in series {
            assert!(page.contains(&s), "docs/operations.md does not name {s}");
        }
    }
}
