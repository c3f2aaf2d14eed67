//! Anomaly flags shown to requesters beside each annotator's gold accuracy: answering far
//! faster than the project's typical pace, and giving (nearly) one label to everything.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// Gaps longer than this between two answers are breaks, not answering time.
const BREAK_SECONDS: f64 = 600.0;
/// Flag `fast` below this share of the project's median time per answer...
const FAST_SHARE: f64 = 1.0 / 3.0;
/// ...once the annotator has this many timed answers.
const MIN_TIMED: usize = 10;
/// Flag `one_label` at this share of answers with the same label...
const ONE_LABEL_SHARE: f64 = 0.95;
/// ...once the annotator has this many answers.
const MIN_LABELLED: usize = 20;

/// One answer as the flags read it: who, when (device clock), which label.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedAnswer {
    pub task_id: i64,
    pub annotator_id: i64,
    pub answered_at: DateTime<Utc>,
    pub label: String,
}

/// What the flags found for one annotator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pace {
    /// Median seconds between consecutive answers (breaks excluded).
    pub median_seconds: Option<f64>,
    /// Share of the annotator's answers with their most common label.
    pub top_label_share: Option<f64>,
    /// `fast`, `one_label`.
    pub flags: Vec<String>,
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// Each annotator's answers, in the order they gave them.
fn by_annotator(answers: &[TimedAnswer]) -> BTreeMap<i64, Vec<&TimedAnswer>> {
    let mut by_annotator: BTreeMap<i64, Vec<&TimedAnswer>> = BTreeMap::new();
    for a in answers {
        by_annotator.entry(a.annotator_id).or_default().push(a);
    }
    for list in by_annotator.values_mut() {
        list.sort_by_key(|a| a.answered_at);
    }
    by_annotator
}

/// Seconds between each annotator's consecutive answers, by the device's own clock (a
/// skewed clock shifts every answer alike and leaves the gaps right); breaks left out.
fn answer_gaps(by_annotator: &BTreeMap<i64, Vec<&TimedAnswer>>) -> BTreeMap<i64, Vec<f64>> {
    by_annotator
        .iter()
        .map(|(&annotator, list)| {
            let gaps = list
                .windows(2)
                .map(|w| (w[1].answered_at - w[0].answered_at).num_milliseconds() as f64 / 1000.0)
                .filter(|&s| s > 0.0 && s <= BREAK_SECONDS)
                .collect();
            (annotator, gaps)
        })
        .collect()
}

/// Every time per answer in the project (seconds between an annotator's consecutive
/// answers, breaks left out), for the requester's distribution chart.
pub fn seconds_per_answer(answers: &[TimedAnswer]) -> Vec<f64> {
    answer_gaps(&by_annotator(answers))
        .into_values()
        .flatten()
        .collect()
}

/// Each annotator's pace, label spread and flags, against the whole project's pace.
pub fn flag_annotators(answers: &[TimedAnswer]) -> BTreeMap<i64, Pace> {
    let by_annotator = by_annotator(answers);
    let mut gaps = answer_gaps(&by_annotator);
    let mut all: Vec<f64> = gaps.values().flatten().copied().collect();
    let project_median = median(&mut all);
    by_annotator
        .iter()
        .map(|(&annotator, list)| {
            let mut own = gaps.remove(&annotator).unwrap_or_default();
            let timed = own.len();
            let median_seconds = median(&mut own);
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for a in list {
                *counts.entry(a.label.as_str()).or_default() += 1;
            }
            let top = counts.values().copied().max().unwrap_or(0);
            let top_label_share = (!list.is_empty()).then(|| top as f64 / list.len() as f64);
            let mut flags = Vec::new();
            if let (Some(own), Some(typical)) = (median_seconds, project_median)
                && timed >= MIN_TIMED
                && own < typical * FAST_SHARE
            {
                flags.push("fast".to_owned());
            }
            if list.len() >= MIN_LABELLED && top_label_share.is_some_and(|s| s >= ONE_LABEL_SHARE) {
                flags.push("one_label".to_owned());
            }
            (
                annotator,
                Pace {
                    median_seconds,
                    top_label_share,
                    flags,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn stream(annotator: i64, seconds_apart: i64, labels: &[&str]) -> Vec<TimedAnswer> {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| TimedAnswer {
                task_id: i as i64,
                annotator_id: annotator,
                answered_at: start + Duration::seconds(seconds_apart * i as i64),
                label: (*l).to_owned(),
            })
            .collect()
    }

    #[test]
    fn a_rusher_and_a_one_label_clicker_are_flagged_and_careful_people_are_not() {
        let varied: Vec<&str> = ["a", "b", "c"].iter().cycle().take(30).copied().collect();
        let mut answers = stream(1, 20, &varied); // careful: 20 s per answer
        answers.extend(stream(2, 22, &varied)); // careful
        answers.extend(stream(3, 2, &varied)); // ten times faster than the others
        answers.extend(stream(4, 19, &["a"; 30])); // one label for everything
        let flags = flag_annotators(&answers);
        assert!(
            flags[&1].flags.is_empty() && flags[&2].flags.is_empty(),
            "{flags:?}"
        );
        assert_eq!(flags[&3].flags, ["fast"]);
        assert_eq!(flags[&4].flags, ["one_label"]);
        assert_eq!(flags[&3].median_seconds, Some(2.0));
        assert_eq!(flags[&4].top_label_share, Some(1.0));
    }

    #[test]
    fn breaks_do_not_count_as_answering_time_and_few_answers_flag_nothing() {
        let mut answers = stream(1, 20, &["a", "b", "a", "b", "a"]);
        answers.extend(stream(2, 3600, &["a", "b", "a"]));
        answers.extend(stream(3, 1, &["a", "a", "a"]));
        let flags = flag_annotators(&answers);
        assert_eq!(flags[&2].median_seconds, None, "hour-long gaps are breaks");
        assert!(
            flags[&3].flags.is_empty(),
            "three answers are too few to judge"
        );
    }
}
