//! CoNLL-style token files come in as spans tasks, a sentence each, their tags an answer by
//! the imported annotator `conll` (real files from flair's test resources, tests/corpus/conll),
//! on both stores; every entity the file tags is in the export, counted from the file.

use std::collections::BTreeSet;
use std::path::PathBuf;

use tessera_api::Role;
use tessera_core::LabelSchema;
use tessera_tests::{Backend, TestServer, cli_upload, export_records};

fn corpus(name: &str) -> PathBuf {
    tessera_tests::corpus("conll", name)
}

/// Sentences, entity types and entities (B- and S- tags: both files are IOB2/BIOES) of a file.
fn counts(name: &str) -> (usize, BTreeSet<String>, usize) {
    let text = std::fs::read_to_string(corpus(name)).expect("corpus");
    let mut sentences = 0;
    let mut in_sentence = false;
    let mut types = BTreeSet::new();
    let mut entities = 0;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || fields[0] == "-DOCSTART-" {
            in_sentence = false;
            continue;
        }
        if !in_sentence {
            sentences += 1;
            in_sentence = true;
        }
        let tag = fields[fields.len() - 1];
        if let Some((prefix, label)) = tag.split_once('-') {
            types.insert(label.to_owned());
            entities += usize::from(prefix == "B" || prefix == "S");
        }
    }
    (sentences, types, entities)
}

#[tokio::test(flavor = "multi_thread")]
async fn conll_files_become_spans_tasks_with_their_tags_as_answers_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, token) = server.user(Role::Requester, "rita").await;
        for name in [
            "fashion.conll",
            "trivial.bioes",
            "spacy-conll2003.iob",
            "spacy-token-per-line.iob",
        ] {
            let (sentences, types, entities) = counts(name);
            let schema = serde_json::json!({"kind": "spans", "labels": types});
            let schema = LabelSchema::from_json(&schema.to_string()).expect("schema");
            let project = requester
                .create_project(name, schema)
                .await
                .expect("project")
                .id;
            let out = cli_upload(&server, &token, project, &corpus(name), &[]);
            assert!(
                out.contains(&format!("added {sentences} tasks")),
                "{backend:?} {name}: {out}"
            );
            let records = export_records(&requester, project).await;
            let spans: usize = records
                .iter()
                .flat_map(|r| &r.answers)
                .map(|a| a.labels.len())
                .sum();
            assert_eq!(spans, entities, "{backend:?} {name}");
            assert!(
                records
                    .iter()
                    .all(|r| r.answers.iter().all(|a| a.annotator == "conll"))
            );
            // Exported back as CoNLL, the tokens and tags are the file's (IOB2: its S- tags come
            // back as B-, E- as I-).
            let exported = requester
                .export(project, "conll")
                .await
                .expect("export")
                .text()
                .await
                .expect("body");
            let tags = |text: &str| -> Vec<(String, String)> {
                text.lines()
                    .filter_map(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        let (word, tag) = (f.first()?, f.last()?);
                        if *word == "-DOCSTART-" {
                            return None;
                        }
                        let tag = tag.replacen("S-", "B-", 1).replacen("E-", "I-", 1);
                        Some(((*word).to_owned(), tag))
                    })
                    .collect()
            };
            let original = std::fs::read_to_string(corpus(name)).expect("corpus");
            assert_eq!(tags(&exported), tags(&original), "{backend:?} {name}");
            // Each span covers the words it tags: its text has no leading or trailing space.
            for r in &records {
                let text = r.data["text"].as_str().expect("text");
                for label in r.answers.iter().flat_map(|a| &a.labels) {
                    let span = tessera_core::Span::parse(label).expect("span");
                    let words = span.excerpt(text).expect("within the text");
                    assert_eq!(words, words.trim(), "{name}: {label}");
                }
            }
        }
    }
}
