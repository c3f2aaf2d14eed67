//! Writes a seeded synthetic crowd as crowd-kit CSVs: `answers.csv` (task,worker,label) and
//! `gold.csv` (task,label — every task's true label). Default: the 1,000,000-answer crowd of
//! the aggregator benchmark (`scripts/bench-aggregate.sh`).
//!
//! ```text
//! cargo run --release -p tessera-core --example synthetic_crowd -- OUT_DIR [TASKS]
//! ```

use std::io::{BufWriter, Write};

use tessera_core::aggregate::synthetic::{Crowd, CrowdSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(
        args.next()
            .ok_or("usage: synthetic_crowd OUT_DIR [TASKS]")?,
    );
    let mut spec = CrowdSpec::million();
    if let Some(tasks) = args.next() {
        spec.tasks = tasks.parse()?;
    }
    std::fs::create_dir_all(&dir)?;
    let crowd = Crowd::generate(spec);
    let mut answers = BufWriter::new(std::fs::File::create(dir.join("answers.csv"))?);
    writeln!(answers, "task,worker,label")?;
    for &(t, w, l) in &crowd.answers {
        writeln!(answers, "t{t},w{w},c{l}")?;
    }
    answers.flush()?;
    let mut gold = BufWriter::new(std::fs::File::create(dir.join("gold.csv"))?);
    writeln!(gold, "task,label")?;
    for (t, y) in crowd.truth.iter().enumerate() {
        writeln!(gold, "t{t},c{y}")?;
    }
    gold.flush()?;
    eprintln!(
        "{} answers on {} tasks by {} workers in {}",
        crowd.answers.len(),
        spec.tasks,
        spec.workers,
        dir.display()
    );
    Ok(())
}
