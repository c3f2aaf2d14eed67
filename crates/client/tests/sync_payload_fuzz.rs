//! The sync payloads a device reads from the server — lease replies, change-feed pages, push
//! replies — under arbitrary input (proptest: arbitrary bytes, and valid payloads with bytes
//! flipped, cut or inserted): parsing never panics, and a change-feed page that parses is
//! applied to the local store whole or not at all (the cursor moves only with it), leaving
//! every answer recorded before it in place. 512 cases per property; `PROPTEST_CASES=N` for a
//! longer run.

use chrono::Utc;
use proptest::prelude::*;
use tessera_api::{ChangesPage, LeaseResponse, PushAnswersResponse};
use tessera_client::LocalStore;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(512);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

const LEASE: &str = r#"{"project":{"id":1,"name":"p","schema":{"kind":"classification","labels":["a","b"]},"created_at":"2026-01-01T00:00:00Z"},"tasks":[{"task_id":7,"project_id":1,"data":{"text":"t","n":[1,{"x":null}]},"prediction":{"labels":["a"],"score":0.5},"expires_at":"2026-01-01T01:00:00Z"}]}"#;
const CHANGES: &str = r#"{"changes":[{"kind":"lease","seq":3,"task":{"task_id":8,"project_id":1,"data":{"text":"u"},"expires_at":"2026-01-01T01:00:00Z"}},{"kind":"answer","seq":4,"task_id":7,"answer_id":"01890a5d-ac96-774b-bcce-b302099a8057","revision":2,"labels":["b"],"skipped":false},{"kind":"cancel","seq":5,"task_id":8}],"cursor":5,"has_more":false}"#;
const PUSHED: &str = r#"{"results":[{"id":"01890a5d-ac96-774b-bcce-b302099a8057","status":"rejected","error":{"code":"invalid_answer","message":"no"}},{"id":"01890a5d-ac96-774b-bcce-b302099a8058","status":"accepted","other_device":true}]}"#;

fn damaged(text: &str) -> impl Strategy<Value = Vec<u8>> {
    let bytes = text.as_bytes().to_vec();
    prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..5).prop_map(move |edits| {
        let mut b = bytes.clone();
        for (i, byte, how) in edits {
            let at = i % (b.len() + 1);
            match how {
                0 if at < b.len() => b[at] = byte,
                1 => b.truncate(at),
                _ => b.insert(at, byte),
            }
        }
        b
    })
}

/// A store holding the project, task 7 leased and answered once.
fn store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(&dir.path().join("client.db")).expect("store");
    let lease: LeaseResponse = serde_json::from_str(LEASE).expect("lease");
    store.save_project(&lease.project).expect("project");
    store.save_leases(&lease.tasks, Utc::now()).expect("leases");
    store
        .record_answer(7, vec!["a".into()], false, Utc::now())
        .expect("answer");
    (dir, store)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_break_the_payload_readers(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = serde_json::from_slice::<LeaseResponse>(&bytes);
        let _ = serde_json::from_slice::<ChangesPage>(&bytes);
        let _ = serde_json::from_slice::<PushAnswersResponse>(&bytes);
    }

    #[test]
    fn a_damaged_change_page_is_applied_whole_or_not_at_all(bytes in damaged(CHANGES)) {
        let _ = serde_json::from_slice::<LeaseResponse>(&bytes);
        let Ok(page) = serde_json::from_slice::<ChangesPage>(&bytes) else {
            return Ok(());
        };
        let (_dir, store) = store();
        let before = store.cursor().expect("cursor");
        match store.apply_changes(&page.changes, page.cursor, Utc::now()) {
            Ok(()) => prop_assert_eq!(store.cursor().expect("cursor"), page.cursor),
            Err(_) => prop_assert_eq!(store.cursor().expect("cursor"), before),
        }
        // The answer made before the page is still there, waiting to be pushed.
        prop_assert_eq!(store.pending(10).expect("pending").len(), 1);
    }

    #[test]
    fn a_damaged_lease_or_push_reply_is_kept_or_refused_never_half_kept(lease in damaged(LEASE), pushed in damaged(PUSHED)) {
        let (_dir, store) = store();
        if let Ok(reply) = serde_json::from_slice::<LeaseResponse>(&lease) {
            let _ = store.save_project(&reply.project);
            let _ = store.save_leases(&reply.tasks, Utc::now());
        }
        if let Ok(reply) = serde_json::from_slice::<PushAnswersResponse>(&pushed) {
            let _ = store.mark_pushed(&reply.results);
        }
        // Whatever came, the local answer is still on the device (pending, or settled by a
        // verdict naming its id), and the store still reads.
        prop_assert_eq!(store.current_answer(7).expect("answer"), Some(vec!["a".to_owned()]));
        let pending = store.pending(10).expect("pending").len();
        let counts = store.counts(None, Utc::now()).expect("counts");
        prop_assert!(pending + counts.rejected as usize <= 1);
        prop_assert!(store.next_task(None).is_ok());
    }
}

#[test]
fn the_undamaged_payloads_parse_and_apply() {
    let (_dir, store) = store();
    let page: ChangesPage = serde_json::from_str(CHANGES).expect("page");
    store
        .apply_changes(&page.changes, page.cursor, Utc::now())
        .expect("apply");
    assert_eq!(store.cursor().expect("cursor"), 5);
    let pushed: PushAnswersResponse = serde_json::from_str(PUSHED).expect("push reply");
    assert_eq!(pushed.results.len(), 2);
}
