//! The default method's stated confidence against its observed accuracy on the development
//! datasets (../shared/data/truth), as a requester with gold sees it: every other gold task is
//! given to the fit, the rest are scored, and the bins of stated confidence are pooled over
//! the five categorical datasets.

use tessera_core::aggregate::reliability::{Reliability, half_gold_reliability};

#[test]
fn stated_confidence_is_within_five_points_of_observed_accuracy_in_every_bin_of_50_tasks() {
    let root = tessera_tests::manifest_dir().join("../../shared/data/truth");
    let mut pooled = Reliability::default();
    for name in [
        "act_ms",
        "snow_temp",
        "spec_web",
        "zheng_d_product",
        "zheng_s_rel",
    ] {
        let dir = root.join(name);
        let read = |file: &str| {
            std::fs::read_to_string(dir.join(file))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
        };
        let one = half_gold_reliability(&read("answers.csv"), &read("gold.csv"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!("{name:<16}{one}");
        pooled.add(&one);
    }
    eprintln!("{:<16}{pooled}", "pooled");
    // The bar: every bin of 50 tasks or more within 5 points.
    let gap = pooled.worst_gap(50);
    assert!(gap <= 0.05, "largest gap {gap:.3}:{pooled}");
    // The diagram covers the range: confident and unsure tasks both exist.
    let filled: Vec<usize> = pooled.bins.iter().map(|b| b.tasks).collect();
    assert!(
        filled[9] > 1000 && filled[4] + filled[5] > 500,
        "{filled:?}"
    );
}
