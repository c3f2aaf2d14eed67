//! The requester dashboard's figures: answers per hour, completion over time, time per
//! answer and agreement, from the project's answers.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, DurationRound, Utc};
use tessera_api::{Forecast, HourCount, ProjectStats, SecondsBucket};
use tessera_core::LabelSchema;
use tessera_core::aggregate::Dataset;
use tessera_core::aggregate::agreement::agreement;

use crate::quality::{TimedAnswer, seconds_per_answer};

/// The longest stretch of hours the charts cover: a week.
const MAX_HOURS: usize = 7 * 24;
/// Upper bounds (seconds) of the time-per-answer buckets; breaks over 600 s are left out.
const SECOND_BOUNDS: [f64; 9] = [2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// `answers`: each annotator's first answer to each task, with its time; `labelled`: the
/// (task, annotator, label) triples the agreement reads; `gold`: gold tasks, which count
/// as answered work but never as tasks completed.
pub fn project_stats(
    schema: &LabelSchema,
    answers: &[TimedAnswer],
    labelled: &[(i64, i64, String)],
    gold: &HashMap<i64, String>,
) -> ProjectStats {
    let hour = |t: DateTime<Utc>| t.duration_trunc(Duration::hours(1)).unwrap_or(t);
    let mut per_hour: BTreeMap<DateTime<Utc>, u64> = BTreeMap::new();
    for a in answers {
        *per_hour.entry(hour(a.answered_at)).or_default() += 1;
    }
    // A task is complete once it holds the answers first asked of it.
    let wanted = schema.min_overlap.unwrap_or(schema.overlap).max(1) as usize;
    let done_at = crate::timeline::completions(answers, wanted, gold);
    let mut completed: BTreeMap<DateTime<Utc>, u64> = BTreeMap::new();
    for c in &done_at {
        *completed.entry(hour(c.at)).or_default() += 1;
    }
    let (mut answers_per_hour, mut complete_by_hour) = (Vec::new(), Vec::new());
    if let (Some(&first), Some(&last)) = (per_hour.keys().next(), per_hour.keys().next_back()) {
        let hours = ((last - first).num_hours() as usize + 1).min(MAX_HOURS);
        let start = last - Duration::hours(hours as i64 - 1);
        let mut done: u64 = completed.range(..start).map(|(_, n)| n).sum();
        for i in 0..hours as i64 {
            let h = start + Duration::hours(i);
            done += completed.get(&h).copied().unwrap_or(0);
            answers_per_hour.push(HourCount {
                hour: h,
                count: per_hour.get(&h).copied().unwrap_or(0),
            });
            complete_by_hour.push(HourCount {
                hour: h,
                count: done,
            });
        }
    }
    let mut seconds = seconds_per_answer(answers);
    let seconds_per_answer = SECOND_BOUNDS
        .iter()
        .enumerate()
        .map(|(i, &up_to)| {
            let above = if i == 0 { 0.0 } else { SECOND_BOUNDS[i - 1] };
            SecondsBucket {
                up_to_seconds: up_to,
                answers: seconds.iter().filter(|&&s| s > above && s <= up_to).count() as u64,
            }
        })
        .collect();
    seconds.sort_by(f64::total_cmp);
    let median_seconds = (!seconds.is_empty()).then(|| {
        let mid = seconds.len() / 2;
        if seconds.len().is_multiple_of(2) {
            (seconds[mid - 1] + seconds[mid]) / 2.0
        } else {
            seconds[mid]
        }
    });
    let (mut krippendorff_alpha, mut percent_agreement, mut agreement_tasks) = (None, None, 0);
    if schema.can_refit() {
        let ids: Vec<(String, String)> = labelled
            .iter()
            .map(|(t, a, _)| (t.to_string(), a.to_string()))
            .collect();
        let triples = ids
            .iter()
            .zip(labelled)
            .map(|((t, a), (_, _, l))| (t.as_str(), a.as_str(), l.as_str()));
        if let Ok(data) = Dataset::from_triples(triples) {
            let a = agreement(&data);
            if a.tasks > 0 {
                agreement_tasks = a.tasks as u64;
                krippendorff_alpha = a
                    .krippendorff_alpha
                    .is_finite()
                    .then_some(a.krippendorff_alpha);
                percent_agreement = Some(a.percent_agreement);
            }
        }
    }
    ProjectStats {
        answers_per_hour,
        complete_by_hour,
        seconds_per_answer,
        median_seconds,
        krippendorff_alpha,
        percent_agreement,
        agreement_tasks,
        label_counts: Default::default(),
        forecast: None,
        timeline: crate::timeline::timeline(answers, &done_at, schema.can_refit()),
        model_runs: Vec::new(),
    }
}

/// When `tasks_left` tasks will be complete at the pace `complete_by_hour` shows over its
/// last 24 hours (`now`: from when).
pub fn forecast(complete_by_hour: &[HourCount], tasks_left: u64, now: DateTime<Utc>) -> Forecast {
    let window = &complete_by_hour[complete_by_hour.len().saturating_sub(25)..];
    let per_hour = match (window.first(), window.last()) {
        (Some(first), Some(last)) if window.len() > 1 => {
            last.count.saturating_sub(first.count) as f64 / (window.len() - 1) as f64
        }
        // One hour of work: what it completed.
        (Some(only), _) => only.count as f64,
        _ => 0.0,
    };
    let done_by = (tasks_left == 0).then_some(now).or_else(|| {
        (per_hour > 0.0).then(|| {
            now + Duration::seconds((tasks_left as f64 / per_hour * 3600.0).round() as i64)
        })
    });
    Forecast {
        tasks_left,
        per_hour,
        done_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forecast_goes_by_the_last_days_pace() {
        let t0 = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let series: Vec<HourCount> = (0..30)
            .map(|h| HourCount {
                hour: t0 + Duration::hours(h),
                count: 10 * h as u64,
            })
            .collect();
        let now = t0 + Duration::hours(30);
        let f = forecast(&series, 50, now);
        assert!((f.per_hour - 10.0).abs() < 1e-9, "{f:?}");
        assert_eq!(f.done_by, Some(now + Duration::hours(5)));
        assert_eq!(forecast(&series, 0, now).done_by, Some(now));
        let idle = vec![HourCount { hour: t0, count: 0 }];
        assert_eq!(forecast(&idle, 5, now).done_by, None);
    }

    fn at(hour: i64, second: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
            + Duration::hours(hour)
            + Duration::seconds(second)
    }

    fn answer(task_id: i64, annotator_id: i64, when: DateTime<Utc>, label: &str) -> TimedAnswer {
        TimedAnswer {
            task_id,
            annotator_id,
            answered_at: when,
            label: label.to_owned(),
        }
    }

    #[test]
    fn hours_completion_pace_and_agreement_come_from_the_answers() {
        let schema =
            LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b"],"overlap":2}"#)
                .expect("schema");
        // Task 1 done in hour 0; task 2 half done in hour 0, done in hour 2; nothing in hour 1.
        let answers = [
            answer(1, 10, at(0, 0), "a"),
            answer(2, 10, at(0, 4), "a"),
            answer(1, 11, at(0, 30), "a"),
            answer(2, 11, at(2, 0), "b"),
        ];
        let labelled: Vec<(i64, i64, String)> = answers
            .iter()
            .map(|a| (a.task_id, a.annotator_id, a.label.clone()))
            .collect();
        let stats = project_stats(&schema, &answers, &labelled, &HashMap::new());
        let counts = |v: &[HourCount]| v.iter().map(|h| h.count).collect::<Vec<_>>();
        assert_eq!(counts(&stats.answers_per_hour), [3, 0, 1]);
        assert_eq!(counts(&stats.complete_by_hour), [1, 1, 2]);
        assert_eq!(stats.answers_per_hour[1].hour, at(1, 0));
        // Gaps: annotator 10 took 4 s; annotator 11's 1 h 59 m 30 s is a break.
        let buckets: Vec<u64> = stats.seconds_per_answer.iter().map(|b| b.answers).collect();
        assert_eq!(buckets, [0, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(stats.median_seconds, Some(4.0));
        // One task agreed, one split: half the pairs agree.
        assert_eq!(stats.agreement_tasks, 2);
        assert_eq!(stats.percent_agreement, Some(0.5));
        assert!(stats.krippendorff_alpha.is_some_and(|a| a < 0.5));
    }

    #[test]
    fn no_answers_no_charts_and_free_text_no_alpha() {
        let schema = LabelSchema::from_json(r#"{"kind":"text","overlap":2}"#).expect("schema");
        let empty = project_stats(&schema, &[], &[], &HashMap::new());
        assert!(empty.answers_per_hour.is_empty() && empty.median_seconds.is_none());
        let answers = [answer(1, 1, at(0, 0), "x"), answer(1, 2, at(0, 9), "x")];
        let labelled = vec![(1, 1, "x".to_owned()), (1, 2, "x".to_owned())];
        let stats = project_stats(&schema, &answers, &labelled, &HashMap::new());
        assert_eq!(stats.krippendorff_alpha, None);
        assert_eq!(stats.complete_by_hour[0].count, 1);
    }
}
