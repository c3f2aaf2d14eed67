//! Accuracy of every aggregation method on folders of `answers.csv` + `gold.csv` (crowd-kit's
//! layout), fitted without gold and scored on the gold tasks.
//!
//! ```text
//! cargo run --release -p tessera-core --example accuracy -- ../shared/data/truth
//! ```

use std::path::Path;

use tessera_core::aggregate::{
    Aggregator, Bwa, Dataset, DawidSkene, Ebcc, Glad, Mace, MajorityVoteFit, NumericDataset,
    NumericMethod, OneCoinDawidSkene, Wawa, WeightedMajorityVote,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args().nth(1).ok_or("usage: accuracy TRUTH_DIR")?;
    let mut dirs: Vec<_> = std::fs::read_dir(&root)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("answers.csv").exists() && p.join("gold.csv").exists())
        .collect();
    dirs.sort();
    let methods: Vec<(String, Box<dyn Aggregator>)> = vec![
        ("mv".into(), Box::new(MajorityVoteFit)),
        ("wmv".into(), Box::new(WeightedMajorityVote)),
        ("wawa".into(), Box::new(Wawa)),
        ("onecoin".into(), Box::new(OneCoinDawidSkene::default())),
        ("ds".into(), Box::new(DawidSkene::default())),
        ("glad".into(), Box::new(Glad::default())),
        ("mace".into(), Box::new(Mace::default())),
        ("bwa".into(), Box::new(Bwa::default())),
        ("ibcc".into(), Box::new(Ebcc::ibcc())),
        ("ebcc".into(), Box::new(Ebcc::default())),
        ("auto".into(), Box::new(DawidSkene::auto())),
    ];
    print!("{:<22}", "dataset");
    for (name, _) in &methods {
        print!("{name:>9}");
    }
    println!();
    let mut sums = vec![0.0; methods.len()];
    let mut n = 0;
    for dir in &dirs {
        let Some(row) = score(dir, &methods)? else {
            continue;
        };
        n += 1;
        print!(
            "{:<22}",
            dir.file_name().and_then(|s| s.to_str()).unwrap_or("?")
        );
        for (i, acc) in row.iter().enumerate() {
            sums[i] += acc;
            print!("{acc:>9.4}");
        }
        println!();
    }
    print!("{:<22}", "mean");
    for s in &sums {
        print!("{:>9.4}", s / n as f64);
    }
    println!();
    println!("\nnumeric datasets: mean absolute error / root mean squared error on gold");
    for dir in &dirs {
        numeric(dir)?;
    }
    Ok(())
}

/// MAE and RMSE of each numeric method, for a folder whose answers are numbers with many
/// distinct values (a scale, not categories).
fn numeric(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let Ok(data) = NumericDataset::from_csv(&std::fs::read_to_string(dir.join("answers.csv"))?)
    else {
        return Ok(());
    };
    let mut distinct: Vec<u64> = data.answers.iter().map(|a| a.2.to_bits()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() <= 20 {
        return Ok(());
    }
    let gold = data.read_gold_csv(&std::fs::read_to_string(dir.join("gold.csv"))?)?;
    for method in [
        NumericMethod::Mean,
        NumericMethod::Median,
        NumericMethod::WeightedMedian,
    ] {
        let fit = method.fit(&data);
        let (mut abs, mut sq, mut n) = (0.0, 0.0, 0.0);
        for (value, truth) in fit.values.iter().zip(&gold) {
            if let Some(truth) = truth {
                let e = value - truth;
                abs += e.abs();
                sq += e * e;
                n += 1.0;
            }
        }
        println!(
            "{:<22}{:<16}{:>8.2} /{:>7.2}",
            dir.file_name().and_then(|s| s.to_str()).unwrap_or("?"),
            format!("{method:?}"),
            abs / n,
            (sq / n).sqrt()
        );
    }
    Ok(())
}

/// Accuracy of each method on the gold tasks of one folder; `None` when nothing is gold or
/// the gold labels are not categorical answers of the file.
fn score(
    dir: &Path,
    methods: &[(String, Box<dyn Aggregator>)],
) -> Result<Option<Vec<f64>>, Box<dyn std::error::Error>> {
    let data = Dataset::from_csv(&std::fs::read_to_string(dir.join("answers.csv"))?)?;
    let mut gold = data.clone();
    if gold
        .read_gold_csv(&std::fs::read_to_string(dir.join("gold.csv"))?)
        .is_err()
    {
        return Ok(None);
    }
    let truth: Vec<(usize, usize)> = gold
        .gold
        .iter()
        .enumerate()
        .filter_map(|(t, g)| g.map(|g| (t, g as usize)))
        .collect();
    if truth.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        methods
            .iter()
            .map(|(_, m)| {
                let labels = m.fit(&data).labels();
                let right = truth.iter().filter(|&&(t, g)| labels[t] == g).count();
                right as f64 / truth.len() as f64
            })
            .collect(),
    ))
}
