//! The dashboard's time series in buckets sized to the project's span: a short job's
//! charts read in minutes, a long one's in days.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, DurationRound, Utc};
use tessera_api::{Timeline, TimelineBucket};

use crate::quality::TimedAnswer;

/// Bucket lengths offered, in seconds: the first that fits the span in [`MAX_BUCKETS`].
const BUCKET_SECONDS: [u32; 7] = [60, 300, 900, 3_600, 21_600, 86_400, 604_800];
/// The most buckets a chart shows; the oldest go first past that.
const MAX_BUCKETS: i64 = 120;

/// A task the moment it held the answers first asked of it, with those answers' labels.
pub struct Completion<'a> {
    pub at: DateTime<Utc>,
    pub labels: Vec<&'a str>,
}

/// `answers`: each annotator's first answer to each task. A task is complete once it holds
/// `wanted` of them (gold apart): when, and with which labels, each task completed.
pub fn completions<'a>(
    answers: &'a [TimedAnswer],
    wanted: usize,
    gold: &HashMap<i64, String>,
) -> Vec<Completion<'a>> {
    let wanted = wanted.max(1);
    let mut by_task: BTreeMap<i64, Vec<&TimedAnswer>> = BTreeMap::new();
    for a in answers {
        by_task.entry(a.task_id).or_default().push(a);
    }
    by_task
        .into_iter()
        .filter(|(task, list)| list.len() >= wanted && !gold.contains_key(task))
        .map(|(_, mut list)| {
            list.sort_by_key(|a| a.answered_at);
            list.truncate(wanted);
            Completion {
                at: list[wanted - 1].answered_at,
                labels: list.iter().map(|a| a.label.as_str()).collect(),
            }
        })
        .collect()
}

/// The charts' series: `answers` per bucket and annotator, tasks complete by each bucket's
/// end and the agreement of those completed in it (`agreement`: whether the labels are single
/// choices that agree or not), from the project's `completions`.
pub fn timeline(
    answers: &[TimedAnswer],
    completions: &[Completion<'_>],
    agreement: bool,
) -> Timeline {
    let (Some(first), Some(last)) = (
        answers.iter().map(|a| a.answered_at).min(),
        answers.iter().map(|a| a.answered_at).max(),
    ) else {
        return Timeline::default();
    };
    let span = (last - first).num_seconds();
    let seconds = BUCKET_SECONDS
        .iter()
        .copied()
        .find(|&s| span / i64::from(s) < MAX_BUCKETS)
        .unwrap_or(BUCKET_SECONDS[BUCKET_SECONDS.len() - 1]);
    let length = Duration::seconds(i64::from(seconds));
    // Weeks start on the epoch's weekday (a Thursday); the rest on round minutes and hours.
    let start_of = |t: DateTime<Utc>| t.duration_trunc(length).unwrap_or(t);
    let end = start_of(last);
    let start = start_of(first).max(end - length * (MAX_BUCKETS as i32 - 1));
    let index = |t: DateTime<Utc>| (start_of(t) - start).num_seconds() / i64::from(seconds);
    let count = index(last) as usize + 1;

    let mut buckets: Vec<TimelineBucket> = (0..count)
        .map(|i| TimelineBucket {
            start: start + length * i as i32,
            answers: 0,
            answers_by_annotator: BTreeMap::new(),
            complete: 0,
            agreement: None,
        })
        .collect();
    for a in answers {
        if let Some(b) = usize::try_from(index(a.answered_at))
            .ok()
            .and_then(|i| buckets.get_mut(i))
        {
            b.answers += 1;
            *b.answers_by_annotator.entry(a.annotator_id).or_default() += 1;
        }
    }
    // Completions: before the window they count from its first bucket on.
    let mut completed = vec![0u64; count];
    let mut before = 0u64;
    let mut pairs = vec![(0u64, 0u64); count]; // (agreeing, all) answer pairs
    for c in completions {
        let Ok(i) = usize::try_from(index(c.at)) else {
            before += 1;
            continue;
        };
        completed[i] += 1;
        if agreement {
            for (j, a) in c.labels.iter().enumerate() {
                for b in &c.labels[j + 1..] {
                    pairs[i].0 += u64::from(a == b);
                    pairs[i].1 += 1;
                }
            }
        }
    }
    let mut done = before;
    for (i, b) in buckets.iter_mut().enumerate() {
        done += completed[i];
        b.complete = done;
        let (agree, all) = pairs[i];
        b.agreement = (all > 0).then(|| agree as f64 / all as f64);
    }
    Timeline {
        bucket_seconds: seconds,
        buckets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The timeline of `answers` with their completions, as the stats endpoint makes it.
    fn timeline_of(
        answers: &[TimedAnswer],
        wanted: usize,
        agreement: bool,
        gold: &HashMap<i64, String>,
    ) -> Timeline {
        timeline(answers, &completions(answers, wanted, gold), agreement)
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
            + Duration::seconds(seconds)
    }

    fn answer(task_id: i64, annotator_id: i64, seconds: i64, label: &str) -> TimedAnswer {
        TimedAnswer {
            task_id,
            annotator_id,
            answered_at: at(seconds),
            label: label.to_owned(),
        }
    }

    #[test]
    fn a_short_job_reads_in_minutes() {
        // Twenty minutes of work: minute buckets, not one hourly block.
        let answers = [
            answer(1, 1, 5, "a"),
            answer(1, 2, 70, "a"),
            answer(2, 1, 65, "a"),
            answer(2, 2, 1_200, "b"),
        ];
        let t = timeline_of(&answers, 2, true, &HashMap::new());
        assert_eq!(t.bucket_seconds, 60);
        assert_eq!(t.buckets.len(), 21);
        assert_eq!(t.buckets[0].start, at(0));
        let answered: Vec<u64> = t.buckets.iter().map(|b| b.answers).collect();
        assert_eq!(answered[..3], [1, 2, 0]);
        assert_eq!(answered[20], 1);
        assert_eq!(
            t.buckets[1].answers_by_annotator,
            BTreeMap::from([(1, 1), (2, 1)])
        );
        // Task 1 completes in minute 1 (agreeing), task 2 in minute 20 (split).
        assert_eq!(t.buckets[0].complete, 0);
        assert_eq!(t.buckets[1].complete, 1);
        assert_eq!(t.buckets[19].complete, 1);
        assert_eq!(t.buckets[20].complete, 2);
        assert_eq!(t.buckets[1].agreement, Some(1.0));
        assert_eq!(t.buckets[20].agreement, Some(0.0));
        assert_eq!(t.buckets[5].agreement, None);
    }

    #[test]
    fn a_long_job_reads_in_days_and_old_weeks_fall_off() {
        let day = 86_400;
        let answers = [answer(1, 1, 0, "a"), answer(1, 2, 30 * day, "a")];
        let t = timeline_of(&answers, 2, false, &HashMap::new());
        assert_eq!(t.bucket_seconds, 86_400);
        assert_eq!(t.buckets.len(), 31);
        assert_eq!(t.buckets[30].complete, 1);
        assert_eq!(t.buckets[30].agreement, None, "agreement off for this kind");
        // Five years: weekly buckets, the last 120 kept; a task completed before them counts.
        let answers = [
            answer(1, 1, 0, "a"),
            answer(1, 2, 1, "a"),
            answer(2, 1, 1_800 * day, "a"),
        ];
        let t = timeline_of(&answers, 2, true, &HashMap::new());
        assert_eq!(t.bucket_seconds, 604_800);
        assert_eq!(t.buckets.len(), 120);
        assert_eq!(t.buckets[0].complete, 1);
        assert_eq!(t.buckets.iter().map(|b| b.answers).sum::<u64>(), 1);
    }

    #[test]
    fn gold_tasks_are_answered_work_but_never_complete_tasks() {
        let answers = [
            answer(7, 1, 0, "a"),
            answer(7, 2, 30, "a"),
            answer(8, 1, 40, "b"),
        ];
        let gold = HashMap::from([(7, "a".to_owned())]);
        let t = timeline_of(&answers, 2, true, &gold);
        assert_eq!(t.buckets[0].answers, 3);
        assert_eq!(t.buckets[0].complete, 0);
        assert_eq!(t.buckets[0].agreement, None);
    }

    #[test]
    fn no_answers_no_buckets() {
        assert_eq!(
            timeline_of(&[], 3, true, &HashMap::new()),
            Timeline::default()
        );
    }
}
