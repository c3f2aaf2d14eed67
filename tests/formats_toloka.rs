//! Toloka's TSV files come in as they are (real pools from Toloka's toloka-kit examples,
//! tests/corpus/toloka): `INPUT:` columns are the task's data, `GOLDEN:` its gold answer,
//! `HINT:` kept in its `meta`; quotes in a TSV are text. Results rows (`OUTPUT:` with
//! `ASSIGNMENT:worker_id`) become answers (the core's unit tests read them). Both stores.

use std::path::PathBuf;

use tessera_api::Role;
use tessera_core::LabelSchema;
use tessera_tests::{Backend, TestServer, cli_upload, export_records};

fn corpus(name: &str) -> PathBuf {
    tessera_tests::corpus("toloka", name)
}

/// The file's rows after its header, split at tabs.
fn rows(name: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(corpus(name))
        .expect("corpus")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn toloka_pools_upload_with_their_gold_and_hints_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, token) = server.user(Role::Requester, "rita").await;
        for name in ["pool-golden.tsv", "pool-training-hints.tsv"] {
            let schema =
                LabelSchema::from_json(r#"{"kind": "classification", "labels": ["yes", "no"]}"#)
                    .expect("schema");
            let project = requester
                .create_project(name, schema)
                .await
                .expect("project")
                .id;
            let out = cli_upload(&server, &token, project, &corpus(name), &[]);
            let file = rows(name);
            assert!(
                out.contains(&format!("added {} tasks", file.len())),
                "{backend:?} {name}: {out}"
            );
            let records = export_records(&requester, project).await;
            assert_eq!(records.len(), file.len());
            for (row, r) in file.iter().zip(&records) {
                assert_eq!(r.data["text_id"], row[0].as_str(), "{name}");
                assert_eq!(
                    r.data["text"],
                    row[1].as_str(),
                    "{name}: the text, quotes and all"
                );
                assert_eq!(r.gold.as_deref(), Some(&[row[2].clone()][..]), "{name}");
                if let Some(hint) = row.get(3) {
                    assert_eq!(
                        r.meta.as_ref().and_then(|m| m["HINT:text"].as_str()),
                        Some(hint.as_str()),
                        "{name}"
                    );
                }
            }
        }
        // A pool's input as Toloka's image-segmentation example gives it: one column of image
        // URLs, a boxes task each.
        let name = "image-segmentation-dataset.tsv";
        let schema =
            LabelSchema::from_json(r#"{"kind": "boxes", "labels": ["object"]}"#).expect("schema");
        let project = requester
            .create_project(name, schema)
            .await
            .expect("project")
            .id;
        let out = cli_upload(&server, &token, project, &corpus(name), &[]);
        let urls: Vec<String> = std::fs::read_to_string(corpus(name))
            .expect("corpus")
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect();
        assert!(
            out.contains(&format!("added {} tasks", urls.len())),
            "{out}"
        );
        let images: Vec<String> = export_records(&requester, project)
            .await
            .iter()
            .map(|r| r.data["image"].as_str().expect("image").to_owned())
            .collect();
        assert_eq!(images, urls, "{backend:?}");
    }
}
