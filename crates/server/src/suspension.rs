//! Suspension: who may no longer take a project's tasks because their gold record says, with
//! 95% confidence, that their accuracy is below the project's `suspend_below` — not merely
//! that their raw share is (19 right of 33 is 58%, and a 71%-accurate annotator gets that
//! often). A requester may lift a suspension: the record at the lift is set aside, and only
//! gold answered after it can suspend them again.

use std::collections::{BTreeMap, BTreeSet};

use tessera_api::Project;

use crate::store::{ConsensusStore, StoreResult, gold_tally};

/// The one-sided 95% point of the standard normal.
const Z_95: f64 = 1.644_853_626_951_472_2;

/// An annotator's gold record: (answered, correct).
pub type GoldRecord = (u64, u64);

/// The Wilson score upper bound of an accuracy of `correct` in `answered`, at one-sided 95%:
/// the true accuracy is below it with 95% confidence. 1 with no answers.
pub fn accuracy_upper_bound((answered, correct): GoldRecord) -> f64 {
    if answered == 0 {
        return 1.0;
    }
    let n = answered as f64;
    let p = correct.min(answered) as f64 / n;
    let z2 = Z_95 * Z_95;
    let centre = p + z2 / (2.0 * n);
    let spread = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre + spread) / (1.0 + z2 / n)).min(1.0)
}

/// Suspended: at least `min_answers` gold answers, and accuracy below `bar` with 95%
/// confidence.
pub fn is_suspended(record: GoldRecord, min_answers: u32, bar: f64) -> bool {
    record.0 > 0 && record.0 >= u64::from(min_answers) && accuracy_upper_bound(record) < bar
}

/// An annotator's gold record: the whole of it, and what counts towards a suspension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gold {
    pub whole: GoldRecord,
    /// Since their suspension was last lifted (the whole record if it never was).
    pub since_lift: GoldRecord,
}

/// Each annotator's gold record (of one annotator, or of all), read once.
pub async fn gold_records(
    store: &dyn ConsensusStore,
    project_id: i64,
    annotator_id: Option<i64>,
) -> StoreResult<BTreeMap<i64, Gold>> {
    let tally = gold_tally(&store.gold_answers(project_id, annotator_id).await?);
    let lifts = store.suspension_lifts(project_id).await?;
    Ok(tally
        .into_iter()
        .map(|(annotator, whole)| {
            let (answered, correct) = lifts.get(&annotator).copied().unwrap_or_default();
            let since_lift = (
                whole.0.saturating_sub(answered),
                whole.1.saturating_sub(correct),
            );
            (annotator, Gold { whole, since_lift })
        })
        .collect())
}

/// Whether the project suspends an annotator with this record.
pub fn suspends(project: &Project, record: GoldRecord) -> bool {
    project
        .schema
        .suspend_below
        .is_some_and(|bar| is_suspended(record, project.schema.gold_min_answers, bar))
}

/// The project's suspended annotators.
pub async fn suspended_annotators(
    store: &dyn ConsensusStore,
    project: &Project,
) -> StoreResult<BTreeSet<i64>> {
    if project.schema.suspend_below.is_none() {
        return Ok(BTreeSet::new());
    }
    Ok(gold_records(store, project.id, None)
        .await?
        .into_iter()
        .filter(|(_, gold)| suspends(project, gold.since_lift))
        .map(|(annotator, _)| annotator)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_wilsons_and_narrows_with_more_answers() {
        // Reference values of the Wilson upper bound at z = 1.6449 (computed by hand from
        // the formula: centre ± spread over 1 + z²/n).
        assert!((accuracy_upper_bound((33, 19)) - 0.7062).abs() < 1e-3);
        assert!((accuracy_upper_bound((10, 0)) - 0.2130).abs() < 1e-3);
        assert_eq!(accuracy_upper_bound((0, 0)), 1.0);
        assert!(accuracy_upper_bound((100, 50)) < accuracy_upper_bound((20, 10)));
        assert!(accuracy_upper_bound((20, 20)) <= 1.0);
    }

    #[test]
    fn an_honest_annotator_within_noise_stays_and_a_coin_flipper_goes() {
        // The case: 19 of 33 right (58%) under a 70% bar is within noise for a
        // 71%-accurate annotator.
        assert!(!is_suspended((33, 19), 10, 0.7));
        // A coin flipper on a two-label project is caught by 30 gold answers...
        assert!(is_suspended((30, 15), 10, 0.7));
        // ...but not before the project's minimum, however bad.
        assert!(!is_suspended((9, 0), 10, 0.7));
        assert!(is_suspended((10, 0), 10, 0.7));
    }
}
