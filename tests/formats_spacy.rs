//! spaCy's training data (real files from spaCy's own examples, tests/corpus/spacy) comes in
//! as tasks whose categories or entities are an answer by the imported annotator `spacy`:
//! JSONL lines with `cats`, and the v2 JSON training format (paragraphs of tagged tokens),
//! on both stores. What each task gets is worked out here from the file.

use std::collections::BTreeSet;

use serde_json::Value;
use tessera_api::Role;
use tessera_client::ApiClient;
use tessera_core::{LabelSchema, UploadFormat};
use tessera_tests::{Backend, TestServer, api_error, cli_upload, export_records};

fn corpus(name: &str) -> std::path::PathBuf {
    tessera_tests::corpus("spacy", name)
}

async fn project(requester: &ApiClient, schema: Value) -> i64 {
    let schema = LabelSchema::from_json(&schema.to_string()).expect("schema");
    requester
        .create_project("spacy", schema)
        .await
        .expect("project")
        .id
}

/// Each text's chosen categories (score 0.5 or more) in a JSONL file.
fn jsonl_cats(name: &str) -> Vec<(String, BTreeSet<String>)> {
    std::fs::read_to_string(corpus(name))
        .expect("corpus")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            let cats = v["cats"]
                .as_object()
                .expect("cats")
                .iter()
                .filter(|(_, s)| s.as_f64().expect("score") >= 0.5)
                .map(|(k, _)| k.clone())
                .collect();
            (v["text"].as_str().expect("text").to_owned(), cats)
        })
        .collect()
}

/// Each task's text and the labels of its one answer; a task whose answer was a skip (no
/// category chosen) has none.
async fn answers_by_text(requester: &ApiClient, project: i64) -> Vec<(String, BTreeSet<String>)> {
    export_records(requester, project)
        .await
        .into_iter()
        .map(|r| {
            assert!(r.answers.len() <= 1, "{r:?}");
            assert!(r.answers.iter().all(|a| a.annotator == "spacy"));
            let text = r.data["text"].as_str().expect("text").to_owned();
            let labels = r.answers.iter().flat_map(|a| a.labels.iter().cloned());
            (text, labels.collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn spacy_files_come_in_with_their_categories_and_entities_on_both_stores() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, token) = server.user(Role::Requester, "rita").await;

        // Mutually exclusive categories, JSONL: each text's answer is its category.
        let id = project(
            &requester,
            serde_json::json!({"kind": "classification", "labels": ["baking", "not_baking"]}),
        )
        .await;
        let out = cli_upload(&server, &token, id, &corpus("cooking.jsonl"), &[]);
        let expected = jsonl_cats("cooking.jsonl");
        assert!(
            out.contains(&format!("added {} tasks", expected.len())),
            "{out}"
        );
        let mut got = answers_by_text(&requester, id).await;
        let mut want = expected.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{backend:?} cooking.jsonl");
        let meta = export_records(&requester, id).await[0]
            .meta
            .clone()
            .expect("meta kept");
        assert!(meta.contains_key("id"));

        // The same texts in spaCy v2's JSON: a task per paragraph, the same answers.
        let id = project(
            &requester,
            serde_json::json!({"kind": "classification", "labels": ["baking", "not_baking"]}),
        )
        .await;
        cli_upload(&server, &token, id, &corpus("cooking.json"), &[]);
        let mut got = answers_by_text(&requester, id).await;
        got.sort();
        assert_eq!(got, want, "{backend:?} cooking.json");

        // Several labels a text, most texts none.
        let labels = ["insult", "obscene", "severe_toxic", "toxic"];
        let id = project(
            &requester,
            serde_json::json!({"kind": "classification", "labels": labels, "multiple": true}),
        )
        .await;
        cli_upload(
            &server,
            &token,
            id,
            &corpus("jigsaw-toxic-comment.jsonl"),
            &[],
        );
        let mut got = answers_by_text(&requester, id).await;
        let mut want = jsonl_cats("jigsaw-toxic-comment.jsonl");
        got.sort();
        want.sort();
        assert_eq!(got, want, "{backend:?} jigsaw");

        // Entities tagged BILUO on tokens: as many spans as B- and U- tags, over their words.
        let doc: Value = serde_json::from_str(
            &std::fs::read_to_string(corpus("ner-token-per-line-conll2003.json")).expect("corpus"),
        )
        .expect("JSON");
        let tags: Vec<&str> = doc
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|d| d["paragraphs"].as_array().into_iter().flatten())
            .flat_map(|p| p["sentences"].as_array().into_iter().flatten())
            .flat_map(|s| s["tokens"].as_array().into_iter().flatten())
            .map(|t| t["ner"].as_str().expect("ner"))
            .collect();
        let types: BTreeSet<&str> = tags
            .iter()
            .filter_map(|t| t.split_once('-'))
            .map(|(_, l)| l)
            .collect();
        let entities = tags
            .iter()
            .filter(|t| t.starts_with("B-") || t.starts_with("U-"))
            .count();
        let id = project(
            &requester,
            serde_json::json!({"kind": "spans", "labels": types}),
        )
        .await;
        cli_upload(
            &server,
            &token,
            id,
            &corpus("ner-token-per-line-conll2003.json"),
            &[],
        );
        let records = export_records(&requester, id).await;
        let spans: Vec<(String, String)> = records
            .iter()
            .flat_map(|r| {
                let text = r.data["text"].as_str().expect("text").to_owned();
                r.answers[0].labels.iter().map(move |l| {
                    let s = tessera_core::Span::parse(l).expect("span");
                    (s.excerpt(&text).expect("inside").to_owned(), s.label)
                })
            })
            .collect();
        assert_eq!(spans.len(), entities, "{backend:?}");
        assert_eq!(
            spans[0],
            ("Sebastian Thrun".to_owned(), "PERSON".to_owned())
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_category_the_project_lacks_is_refused_at_its_line() {
    let server = TestServer::start_on(Backend::Sqlite).await;
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let id = project(
        &requester,
        serde_json::json!({"kind": "classification", "labels": ["baking", "not_baking"]}),
    )
    .await;
    let text = std::fs::read_to_string(corpus("cooking.jsonl")).expect("corpus");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[6] = lines[6].replace("\"not_baking\"", "\"frying\"");
    let e = requester
        .upload(id, UploadFormat::Jsonl, lines.join("\n"))
        .await
        .expect_err("frying");
    let (status, body) = api_error(e);
    assert_eq!(status, 422);
    assert_eq!(body.line, Some(7), "{body:?}");
    assert!(body.message.contains("frying"), "{body:?}");
    assert!(export_records(&requester, id).await.is_empty());
}

/// spaCy's Python, in the venv scripts/test.sh makes.
fn spacy_python() -> std::path::PathBuf {
    tessera_tests::peer_venv_program("TESSERA_SPACY_VENV", "venv-spacy", "python")
}

/// Has spaCy write `docs` (text, entities as character offsets, categories) as a DocBin;
/// returns its path and what spaCy's own `Doc.to_json()` says of each doc.
fn spacy_docbin(dir: &std::path::Path, name: &str, docs: &Value) -> (std::path::PathBuf, Value) {
    const SCRIPT: &str = "import json, sys, spacy\nfrom spacy.tokens import DocBin\nnlp = spacy.blank('en')\ndb, out = DocBin(), []\nfor d in json.load(open(sys.argv[1])):\n    doc = nlp.make_doc(d['text'])\n    doc.ents = [doc.char_span(s, e, label=l) for s, e, l in d['ents']]\n    doc.cats = d['cats']\n    db.add(doc)\n    j = doc.to_json()\n    out.append({'text': j['text'], 'ents': [[e['start'], e['end'], e['label']] for e in j['ents']], 'cats': j.get('cats', {})})\ndb.to_disk(sys.argv[2])\njson.dump(out, open(sys.argv[3], 'w'))\n";
    let input = dir.join(format!("{name}.json"));
    let output = dir.join(format!("{name}.spacy"));
    let expected = dir.join(format!("{name}.expected.json"));
    std::fs::write(&input, docs.to_string()).expect("write");
    let run = std::process::Command::new(spacy_python())
        .args(["-c", SCRIPT])
        .args([&input, &output, &expected])
        .output()
        .expect("spaCy's python (scripts/test.sh installs it)");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(&expected).expect("read")).expect("JSON");
    (output, expected)
}

#[tokio::test(flavor = "multi_thread")]
async fn spacy_docbins_come_in_as_spacy_wrote_them_on_both_stores() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Entities: spaCy's built-in labels (kept by symbol) and a label of one's own (by hash),
    // in text with characters beyond ASCII.
    let ner = serde_json::json!([
        {"text": "Ann Lee left Zürich for Acme Inc today", "ents": [[0, 7, "PERSON"], [13, 19, "GPE"], [24, 32, "ORG"]], "cats": {}},
        {"text": "Add 2 cups of flour — then the sugar", "ents": [[14, 19, "INGREDIENT"], [31, 36, "INGREDIENT"]], "cats": {}},
        {"text": "Nothing here", "ents": [], "cats": {}}
    ]);
    let (ner_file, ner_expected) = spacy_docbin(dir.path(), "ner", &ner);
    let cooking: Vec<Value> = jsonl_cats("cooking.jsonl")
        .into_iter()
        .map(|(text, cats)| {
            let scores: serde_json::Map<String, Value> = ["baking", "not_baking"]
                .iter()
                .map(|c| {
                    (
                        (*c).to_owned(),
                        Value::from(if cats.contains(*c) { 1.0 } else { 0.0 }),
                    )
                })
                .collect();
            serde_json::json!({"text": text, "ents": [], "cats": scores})
        })
        .collect();
    let (cats_file, cats_expected) = spacy_docbin(dir.path(), "cats", &Value::Array(cooking));
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_on(backend).await;
        let (requester, token) = server.user(Role::Requester, "rita").await;
        let labels = ["PERSON", "GPE", "ORG", "INGREDIENT"];
        let id = project(
            &requester,
            serde_json::json!({"kind": "spans", "labels": labels}),
        )
        .await;
        let out = cli_upload(&server, &token, id, &ner_file, &[]);
        assert!(out.contains("added 3 tasks"), "{out}");
        let records = export_records(&requester, id).await;
        for (r, want) in records.iter().zip(ner_expected.as_array().expect("docs")) {
            assert_eq!(
                r.data["text"], want["text"],
                "{backend:?}: the text as spaCy has it"
            );
            let mut got: Vec<String> = r.answers.iter().flat_map(|a| a.labels.clone()).collect();
            let mut spans: Vec<String> = want["ents"]
                .as_array()
                .expect("ents")
                .iter()
                .map(|e| format!("{}:{}:{}", e[0], e[1], e[2].as_str().expect("label")))
                .collect();
            got.sort();
            spans.sort();
            assert_eq!(got, spans, "{backend:?}");
        }
        let id = project(
            &requester,
            serde_json::json!({"kind": "classification", "labels": ["baking", "not_baking"]}),
        )
        .await;
        cli_upload(&server, &token, id, &cats_file, &[]);
        let mut got = answers_by_text(&requester, id).await;
        let mut want: Vec<(String, BTreeSet<String>)> = cats_expected
            .as_array()
            .expect("docs")
            .iter()
            .map(|d| {
                let cats = d["cats"]
                    .as_object()
                    .expect("cats")
                    .iter()
                    .filter(|(_, s)| s.as_f64().is_some_and(|s| s >= 0.5))
                    .map(|(k, _)| k.clone())
                    .collect();
                (d["text"].as_str().expect("text").to_owned(), cats)
            })
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{backend:?}");
        // Cut short, refused with nothing stored.
        let bytes = std::fs::read(&cats_file).expect("DocBin");
        let id = project(
            &requester,
            serde_json::json!({"kind": "classification", "labels": ["baking", "not_baking"]}),
        )
        .await;
        let e = requester
            .upload(id, UploadFormat::DocBin, bytes[..bytes.len() / 2].to_vec())
            .await
            .expect_err("cut short");
        let (status, body) = api_error(e);
        assert_eq!(status, 422);
        assert!(body.message.contains("not a spaCy DocBin"), "{body:?}");
        assert!(export_records(&requester, id).await.is_empty());
    }
}
