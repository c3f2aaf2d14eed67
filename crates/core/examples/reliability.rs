//! Reliability of `auto`'s stated confidence on the development datasets: each dataset's gold
//! split in two (every other gold task), one half given to the fit as gold, the other scored;
//! bins of stated confidence pooled over the datasets, with the observed accuracy in each.
//!
//! ```text
//! cargo run --release -p tessera-core --example reliability -- ../shared/data/truth
//! ```

use tessera_core::aggregate::reliability::{Reliability, half_gold_reliability};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .ok_or("usage: reliability TRUTH_DIR")?;
    let mut pooled = Reliability::default();
    for name in [
        "act_ms",
        "snow_temp",
        "spec_web",
        "zheng_d_product",
        "zheng_s_rel",
    ] {
        let dir = std::path::Path::new(&root).join(name);
        let one = half_gold_reliability(
            &std::fs::read_to_string(dir.join("answers.csv"))?,
            &std::fs::read_to_string(dir.join("gold.csv"))?,
        )?;
        println!("{name:<16} {one}");
        pooled.add(&one);
    }
    println!("{:<16} {pooled}", "pooled");
    Ok(())
}
