//! Accuracy of every categorical method on the robustness kit's synthetic crowds, against the
//! oracle (the posterior under the true model), averaged over seeds.
//!
//! ```text
//! cargo run --release -p tessera-core --example robustness [-- SEEDS]
//! ```

use tessera_core::aggregate::robustness::Scenario;
use tessera_core::aggregate::{
    Aggregator, Bwa, DawidSkene, Ebcc, Glad, Mace, MajorityVoteFit, OneCoinDawidSkene, Wawa,
    WeightedMajorityVote,
};

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let methods: Vec<(&str, Box<dyn Aggregator>)> = vec![
        ("mv", Box::new(MajorityVoteFit)),
        ("wmv", Box::new(WeightedMajorityVote)),
        ("wawa", Box::new(Wawa)),
        ("onecoin", Box::new(OneCoinDawidSkene::default())),
        ("ds", Box::new(DawidSkene::default())),
        ("glad", Box::new(Glad::default())),
        ("mace", Box::new(Mace::default())),
        ("bwa", Box::new(Bwa::default())),
        ("ibcc", Box::new(Ebcc::ibcc())),
        ("ebcc", Box::new(Ebcc::default())),
        ("auto", Box::new(DawidSkene::auto())),
    ];
    print!("| scenario | oracle |");
    for (name, _) in &methods {
        print!(" {name} |");
    }
    println!();
    println!("|---|---:|{}", "---:|".repeat(methods.len()));
    let mut worst = vec![0.0f64; methods.len()];
    for scenario in Scenario::kit() {
        let mut oracle = 0.0;
        let mut sums = vec![0.0; methods.len()];
        for seed in 0..seeds {
            let crowd = scenario.generate(seed);
            let data = crowd.to_dataset();
            oracle += crowd.oracle_accuracy();
            for (i, (_, m)) in methods.iter().enumerate() {
                sums[i] += crowd.accuracy(&m.fit(&data).labels());
            }
        }
        let n = seeds as f64;
        print!("| {} | {:.4} |", scenario.name, oracle / n);
        for (i, s) in sums.iter().enumerate() {
            worst[i] = worst[i].max((oracle - s) / n);
            print!(" {:.4} |", s / n);
        }
        println!();
    }
    print!("| largest gap to the oracle | |");
    for w in &worst {
        print!(" {w:.4} |");
    }
    println!();
}
