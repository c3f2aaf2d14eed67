//! The default method on the robustness kit: on every synthetic crowd structure it stays
//! within a few points of the oracle (the posterior under the true model), where each
//! single-structure method falls far behind on some structure.

use tessera_core::aggregate::robustness::Scenario;
use tessera_core::aggregate::{Aggregator, DawidSkene, MajorityVoteFit, OneCoinDawidSkene};

#[test]
fn the_default_is_never_far_behind_the_oracle() {
    let mut vote_worst: f64 = 0.0;
    let mut one_coin_worst: f64 = 0.0;
    let mut fixed_worst: f64 = 0.0;
    let mut auto_worst: f64 = 0.0;
    for scenario in Scenario::kit() {
        for seed in 0..2 {
            let crowd = scenario.generate(seed);
            let data = crowd.to_dataset();
            let oracle = crowd.oracle_accuracy();
            let auto = crowd.accuracy(&DawidSkene::auto().fit(&data).labels());
            eprintln!(
                "{} seed {seed}: oracle {oracle:.4}, auto {auto:.4}",
                scenario.name
            );
            assert!(
                auto >= oracle - 0.04,
                "{} (seed {seed}): auto {auto:.4}, oracle {oracle:.4}",
                scenario.name
            );
            auto_worst = auto_worst.max(oracle - auto);
            let gap = |m: &dyn Aggregator| oracle - crowd.accuracy(&m.fit(&data).labels());
            vote_worst = vote_worst.max(gap(&MajorityVoteFit));
            one_coin_worst = one_coin_worst.max(gap(&OneCoinDawidSkene::default()));
            fixed_worst = fixed_worst.max(gap(&DawidSkene::default()));
        }
    }
    // Each single-structure model falls further behind than the default somewhere.
    for (name, worst) in [
        ("mv", vote_worst),
        ("onecoin-ds", one_coin_worst),
        ("ds", fixed_worst),
    ] {
        assert!(
            worst > auto_worst,
            "{name}'s largest gap {worst:.4} is no larger than auto's {auto_worst:.4}"
        );
    }
}

#[test]
fn the_evidence_picks_one_coin_for_one_coin_crowds_and_full_matrices_for_biased_ones() {
    // Sparse 4-class crowds of weak one-coin workers: full confusion matrices overfit, and
    // the default must do as well as the one-coin model there.
    let sparse = Scenario {
        name: "sparse weak one-coin",
        classes: 4,
        workers: 800,
        activity_skew: 1.0,
        class_shares: vec![0.6, 0.2, 0.15, 0.05],
        kinds: vec![
            (
                tessera_core::aggregate::robustness::Skill::OneCoin(0.35, 0.7),
                0.7,
            ),
            (
                tessera_core::aggregate::robustness::Skill::OneCoin(0.8, 0.95),
                0.2,
            ),
            (tessera_core::aggregate::robustness::Skill::Spammer, 0.1),
        ],
        overlap: (3, 7),
        ..Scenario::kit()[0].clone()
    };
    let crowd = sparse.generate(1);
    let data = crowd.to_dataset();
    let auto = crowd.accuracy(&DawidSkene::auto().fit(&data).labels());
    let one_coin = crowd.accuracy(&OneCoinDawidSkene::default().fit(&data).labels());
    let ds = crowd.accuracy(&DawidSkene::default().fit(&data).labels());
    assert!(
        auto >= one_coin - 0.01,
        "auto {auto:.4}, onecoin {one_coin:.4}"
    );
    assert!(auto > ds + 0.05, "auto {auto:.4}, ds {ds:.4}");
}
