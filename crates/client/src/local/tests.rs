use super::*;
use chrono::Duration;

#[test]
fn a_store_keeps_its_device_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("client.db");
    let first = LocalStore::open(&path).expect("open").device_id();
    let again = LocalStore::open(&path).expect("reopen").device_id();
    let other = LocalStore::open(&dir.path().join("other.db"))
        .expect("open")
        .device_id();
    assert!(first.is_some());
    assert_eq!(first, again, "the same store, the same device");
    assert_ne!(first, other, "another store, another device");
}

fn store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_at(&dir.path().join("client.db"));
    (dir, store)
}

fn store_at(path: &Path) -> LocalStore {
    let store = LocalStore::open(path).expect("open");
    let project = Project {
        id: 1,
        name: "p".into(),
        schema: LabelSchema::from_json(
            r#"{"kind": "classification", "labels": ["pos", "neg"], "overlap": 3}"#,
        )
        .expect("schema"),
        created_at: Utc::now(),
        archived_at: None,
    };
    store.save_project(&project).expect("project");
    let tasks: Vec<LeasedTask> = (1..=3)
        .map(|i| LeasedTask {
            task_id: i,
            project_id: 1,
            data: serde_json::from_value(serde_json::json!({"text": format!("t{i}")}))
                .expect("map"),
            prediction: None,
            expires_at: Utc::now() + Duration::minutes(30),
        })
        .collect();
    store.save_leases(&tasks, Utc::now()).expect("leases");
    store
}

#[test]
fn answering_moves_to_the_next_task_and_queues_the_answer() {
    let (_d, s) = store();
    let first = s.next_task(Some(1)).expect("query").expect("task");
    assert_eq!(first.id, 1);
    let a = s
        .record_answer(1, vec!["pos".into()], false, Utc::now())
        .expect("answer");
    assert_eq!(a.revision, 1);
    assert_eq!(s.next_task(Some(1)).expect("query").map(|t| t.id), Some(2));
    assert_eq!(s.pending(10).expect("pending"), vec![a.clone()]);
    let counts = s.counts(Some(1), Utc::now()).expect("counts");
    assert_eq!(
        (counts.pending, counts.leased, counts.done_today),
        (1, 2, 1)
    );
}

#[test]
fn tasks_come_in_the_order_the_server_sent_them_not_by_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = LocalStore::open(&dir.path().join("client.db")).expect("open");
    s.save_project(&Project {
        id: 1,
        name: "p".into(),
        schema: LabelSchema::from_json(r#"{"kind": "classification", "labels": ["a", "b"]}"#)
            .expect("schema"),
        created_at: Utc::now(),
        archived_at: None,
    })
    .expect("project");
    let lease = |id: i64| LeasedTask {
        task_id: id,
        project_id: 1,
        data: serde_json::from_value(serde_json::json!({"text": "t"})).expect("map"),
        prediction: None,
        expires_at: Utc::now() + Duration::minutes(30),
    };
    let sent = [40, 7, 93, 12];
    s.save_leases(&sent.map(lease), Utc::now()).expect("leases");
    let shown: Vec<i64> = s
        .upcoming(1, 10)
        .expect("upcoming")
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(shown, sent);
    assert_eq!(s.next_task(Some(1)).expect("next").map(|t| t.id), Some(40));
}

#[test]
fn time_per_task_is_the_median_gap_between_answers_breaks_left_out() {
    let (_d, s) = store();
    assert_eq!(
        s.counts(Some(1), Utc::now())
            .expect("counts")
            .seconds_per_task,
        None
    );
    let t0 = Utc::now();
    for (task, after) in [(1, 0), (2, 4), (3, 10)] {
        s.record_answer(
            task,
            vec!["pos".into()],
            false,
            t0 + Duration::seconds(after),
        )
        .expect("answer");
    }
    // A revision is not a new task: its gap does not count.
    s.record_answer(1, vec!["neg".into()], false, t0 + Duration::seconds(11))
        .expect("revision");
    let seconds = s
        .counts(Some(1), t0)
        .expect("counts")
        .seconds_per_task
        .expect("a median");
    assert!((seconds - 6.0).abs() < 0.01, "{seconds}");
}

#[test]
fn invalid_labels_are_refused_and_nothing_is_stored() {
    let (_d, s) = store();
    assert!(
        s.record_answer(1, vec!["joy".into()], false, Utc::now())
            .is_err()
    );
    assert!(
        s.record_answer(99, vec!["pos".into()], false, Utc::now())
            .is_err()
    );
    assert!(s.pending(10).expect("pending").is_empty());
}

#[test]
fn revisions_increase_and_the_latest_is_current() {
    let (_d, s) = store();
    s.record_answer(1, vec!["pos".into()], false, Utc::now())
        .expect("answer");
    s.record_answer(2, vec![], true, Utc::now()).expect("skip");
    // Backspace from nothing goes to task 2, then to task 1.
    assert_eq!(
        s.answered_before(1, None).expect("q").map(|t| t.id),
        Some(2)
    );
    assert_eq!(
        s.answered_before(1, Some(2)).expect("q").map(|t| t.id),
        Some(1)
    );
    assert_eq!(s.answered_before(1, Some(1)).expect("q"), None);
    let r = s
        .record_answer(1, vec!["neg".into()], false, Utc::now())
        .expect("revise");
    assert_eq!(r.revision, 2);
    assert_eq!(
        s.current_answer(1).expect("q"),
        Some(vec!["neg".to_owned()])
    );
    assert_eq!(s.current_answer(2).expect("q"), None);
    assert_eq!(s.pending(10).expect("pending").len(), 3);
}

#[test]
fn pushed_answers_leave_the_outbox_and_rejections_are_kept_aside() {
    let (_d, s) = store();
    let a = s
        .record_answer(1, vec!["pos".into()], false, Utc::now())
        .expect("answer");
    let b = s
        .record_answer(2, vec!["neg".into()], false, Utc::now())
        .expect("answer");
    s.mark_pushed(&[
        PushResult {
            id: a.id,
            status: PushStatus::Duplicate,
            error: None,
            other_device: false,
            task_cancelled: false,
        },
        PushResult {
            id: b.id,
            status: PushStatus::Rejected,
            error: Some(tessera_api::ErrorBody {
                code: "invalid_answer".into(),
                message: "\"neg\" is not a label of this project".into(),
                line: None,
                column: None,
            }),
            other_device: false,
            task_cancelled: false,
        },
    ])
    .expect("mark");
    assert!(s.pending(10).expect("pending").is_empty());
    let counts = s.counts(None, Utc::now()).expect("counts");
    assert_eq!((counts.pending, counts.rejected), (0, 1));
    let refused = s.refused_answers().expect("refused");
    assert_eq!(refused.len(), 1);
    let r = &refused[0];
    assert_eq!(
        (r.answer_id, r.task_id, r.code.as_str()),
        (b.id, 2, "invalid_answer")
    );
    assert_eq!(
        (r.labels.clone(), r.answer_again),
        (vec!["neg".to_owned()], true)
    );
    assert!(r.reason.contains("not a label"), "{}", r.reason);
    assert_eq!(
        s.refusal_reasons().expect("reasons"),
        vec![(format!("invalid_answer: {}", r.reason), 1)]
    );
    // The task is back in hand; answering it again settles the refusal.
    assert_eq!(s.next_task(Some(1)).expect("q").map(|t| t.id), Some(2));
    s.record_answer(2, vec!["pos".into()], false, Utc::now())
        .expect("again");
    assert!(s.refused_answers().expect("refused").is_empty());
    assert_eq!(s.counts(None, Utc::now()).expect("counts").rejected, 0);
}

#[test]
fn a_refusal_that_answering_again_cannot_mend_leaves_the_task_closed() {
    let (_d, s) = store();
    let a = s
        .record_answer(1, vec!["pos".into()], false, Utc::now())
        .expect("answer");
    s.mark_pushed(&[PushResult {
        id: a.id,
        status: PushStatus::Rejected,
        error: Some(tessera_api::ErrorBody {
            code: "not_found".into(),
            message: "task 1 does not exist".into(),
            line: None,
            column: None,
        }),
        other_device: false,
        task_cancelled: false,
    }])
    .expect("mark");
    assert_eq!(s.next_task(Some(1)).expect("q").map(|t| t.id), Some(2));
    let refused = s.refused_answers().expect("refused");
    assert_eq!(refused.len(), 1);
    assert!(!refused[0].answer_again);
}

#[test]
fn answers_from_another_device_close_the_task_here() {
    let (_d, s) = store();
    let change = Change::Answer {
        seq: 9,
        task_id: 1,
        answer_id: Uuid::now_v7(),
        revision: 1,
        labels: vec!["pos".into()],
        skipped: false,
    };
    s.apply_changes(std::slice::from_ref(&change), 9, Utc::now())
        .expect("apply");
    s.apply_changes(&[change], 9, Utc::now())
        .expect("apply twice");
    assert_eq!(s.cursor().expect("cursor"), 9);
    assert_eq!(s.next_task(Some(1)).expect("q").map(|t| t.id), Some(2));
    assert!(s.pending(10).expect("pending").is_empty());
}

#[test]
fn a_cancelled_task_is_offered_no_more_but_an_answer_to_it_is_still_kept() {
    let (_d, s) = store();
    let cancel = Change::Cancel { seq: 4, task_id: 1 };
    s.apply_changes(&[cancel], 4, Utc::now()).expect("apply");
    assert_eq!(s.next_task(Some(1)).expect("q").map(|t| t.id), Some(2));
    assert_eq!(s.counts(Some(1), Utc::now()).expect("counts").leased, 2);
    // The annotator had it on screen: the answer is saved and will be synced.
    let a = s
        .record_answer(1, vec!["pos".into()], false, Utc::now())
        .expect("answer");
    assert_eq!(s.pending(10).expect("pending"), vec![a]);
}

#[test]
fn answers_survive_reopening_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("client.db");
    let a = store_at(&path)
        .record_answer(3, vec!["neg".into()], false, Utc::now())
        .expect("answer");
    let s = LocalStore::open(&path).expect("reopen");
    assert_eq!(s.pending(10).expect("pending"), vec![a]);
    assert_eq!(s.task(3).expect("task").state, "answered");
}

#[test]
fn an_answer_says_what_it_did_with_the_prediction() {
    use tessera_api::PredictionVerdict::{Accepted, Corrected, Rejected};
    let p = Prediction {
        labels: vec!["b".into(), "a".into()],
        score: Some(0.7),
        model_version: Some("m2".into()),
    };
    let labels = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let m2 = Some("m2".to_owned());
    assert_eq!(
        prediction_verdict(Some(&p), &labels(&["a", "b"]), false, false),
        (Some(Accepted), m2.clone())
    );
    assert_eq!(
        prediction_verdict(Some(&p), &labels(&["a"]), false, false),
        (Some(Corrected), m2.clone())
    );
    assert_eq!(
        prediction_verdict(Some(&p), &labels(&["a", "b"]), false, true),
        (Some(Rejected), m2)
    );
    assert_eq!(prediction_verdict(Some(&p), &[], true, false), (None, None));
    assert_eq!(
        prediction_verdict(None, &labels(&["a"]), false, false),
        (None, None)
    );
}
