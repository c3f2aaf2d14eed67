//! `tessera aggregate`: consensus for a crowd-kit style answers file, on stdout as CSV.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use tessera_core::aggregate::{Aggregator, Dataset, DawidSkene, MajorityVoteFit};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Method {
    /// The default: Dawid–Skene whose confusion matrices are shrunk toward the crowd's pooled
    /// matrix (provisional; the choice across the whole method family is still being measured).
    Auto,
    /// Majority vote.
    Mv,
    /// Dawid–Skene with full confusion matrices.
    Ds,
}

#[derive(Args)]
pub struct AggregateArgs {
    /// CSV with a `task,worker,label` header.
    answers: PathBuf,
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    method: Method,
}

pub fn run(args: &AggregateArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.answers)
        .with_context(|| format!("reading {}", args.answers.display()))?;
    let data =
        Dataset::from_csv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.answers.display()))?;
    let fit = match args.method {
        Method::Mv => MajorityVoteFit.fit(&data),
        Method::Ds => DawidSkene::default().fit(&data),
        Method::Auto => DawidSkene::pooled().fit(&data),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut w = csv::Writer::from_writer(&mut out);
    w.write_record(["task", "label", "confidence"])?;
    for ((task, label), confidence) in data.tasks.iter().zip(fit.labels()).zip(fit.confidences()) {
        w.write_record([
            task.as_str(),
            data.labels[label].as_str(),
            &format!("{confidence:.6}"),
        ])?;
    }
    w.flush()?;
    drop(w);
    out.flush()?;
    Ok(())
}
