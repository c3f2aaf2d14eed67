//! The upload readers — JSONL, CSV, TSV, CoNLL, JSON documents (Label Studio exports and
//! spaCy's training data, read strictly and leniently), spaCy DocBins, Pascal VOC XML and zips
//! of YOLO sets
//! — under arbitrary input (proptest: arbitrary bytes, and valid files with
//! bytes flipped, cut or inserted): they never panic, every error names a line of the input
//! (and a column within it, when given), and a file read in pieces of any size gives the same
//! outcome as read whole. 512 cases per property here; `PROPTEST_CASES=200000 cargo test -p
//! tessera-core --test upload_fuzz` for a longer run.

use proptest::prelude::*;
use tessera_core::{EncodedTask, LabelSchema, UploadFormat, upload};

fn schema() -> LabelSchema {
    LabelSchema::from_json(
        r#"{"kind": "classification", "labels": ["positive", "negative", "neutral"]}"#,
    )
    .expect("schema")
}

fn valid_jsonl() -> String {
    [
        r#"{"id":"a","data":{"text":"great"},"predictions":[{"model_version":"m","score":0.5,"result":"positive"}]}"#,
        r#"{"id":"b","data":{"text":"ünïcode \"q\"","n":[1,{"x":null}]},"gold":"negative"}"#,
        r#"{"data":{"text":"third"}}"#,
    ]
    .join("\n")
        + "\n"
}

/// A Label Studio export (as its JSON export writes one, bookkeeping keys and all) of three
/// tasks with annotations, predictions, a cancelled annotation and an LS 0.x `completions`.
fn valid_json() -> String {
    r#"[
  {"id": 1, "data": {"text": "great"}, "meta": {"k": 1}, "agreement": 100, "inner_id": 1,
   "annotations": [{"id": 5, "completed_by": {"id": 2, "email": "a@x.org"}, "updated_at": "2024-01-02T03:04:05Z",
                    "result": [{"type": "choices", "value": {"choices": ["positive"]}, "from_name": "s", "to_name": "text"}]},
                   {"id": 6, "completed_by": 3, "was_cancelled": true, "result": []}],
   "predictions": [{"model_version": "m", "score": 0.5, "result": [{"type": "choices", "value": {"choices": ["negative"]}}]}]},
  {"id": "b", "text": "no data wrapper \"quoted\" ünïcode", "annotations": []},
  {"id": 3, "data": {"text": "old"}, "completions": [{"id": 9, "result": [{"type": "choices", "value": {"choices": ["neutral"]}}]}]}
]
"#
    .to_owned()
}

fn valid_csv() -> String {
    "id,text,prediction,prediction_score,gold\na,\"fine, really\",positive,0.9,\nb,\"say \"\"hi\"\"\",,,neutral\nc,\"two\nlines\",negative,,\n".to_owned()
}

/// One way of damaging a file.
#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Cut(usize),
    Insert(usize, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    let interesting = prop::sample::select(vec![
        b"\"".to_vec(),
        b",".to_vec(),
        b"\n".to_vec(),
        b"\r".to_vec(),
        b"{".to_vec(),
        b"]".to_vec(),
        b"\\".to_vec(),
        vec![0xff],
        vec![0xc3],
        b"\xef\xbb\xbf".to_vec(),
        "[[[[[[[[[[".as_bytes().to_vec(),
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Flip(i, b)),
        any::<usize>().prop_map(Damage::Cut),
        (any::<usize>(), interesting).prop_map(|(i, b)| Damage::Insert(i, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, damages: &[Damage]) -> Vec<u8> {
    for d in damages {
        let len = bytes.len().max(1);
        match d {
            Damage::Flip(i, b) if !bytes.is_empty() => bytes[i % len] = *b,
            Damage::Flip(..) => {}
            Damage::Cut(i) => bytes.truncate(i % len),
            Damage::Insert(i, b) => {
                let at = i % (bytes.len() + 1);
                bytes.splice(at..at, b.iter().copied());
            }
        }
    }
    bytes
}

/// Reads `bytes` `piece` bytes at a time.
struct Pieces<'a> {
    bytes: &'a [u8],
    piece: usize,
}

impl std::io::Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.piece.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// Parses `bytes` whole and in pieces; checks the outcome is the same and any error names a
/// place inside the input.
fn check(bytes: &[u8], format: UploadFormat, piece: usize) -> Result<(), TestCaseError> {
    check_read(bytes, format, piece, false)
}

fn spans_schema() -> LabelSchema {
    LabelSchema::from_json(r#"{"kind": "spans", "labels": ["PER", "LOC"]}"#).expect("schema")
}

fn valid_conll() -> String {
    "-DOCSTART- -X- -X- O\n\nPeter NNP B-NP I-PER\nlives VBZ B-VP O\nin IN B-PP O\nZürich NNP B-NP B-LOC\n\nBerlin S-LOC\n\nHe O\nsaid O\n".to_owned()
}

fn boxes_schema() -> LabelSchema {
    LabelSchema::from_json(r#"{"kind": "boxes", "labels": ["cat", "dog"]}"#).expect("schema")
}

fn valid_voc() -> String {
    "<annotation>\n<filename>a.jpg</filename>\n<size><width>200</width><height>100</height></size>\n<object><name>cat</name><bndbox><xmin>20</xmin><ymin>10</ymin><xmax>120</xmax><ymax>60</ymax></bndbox></object>\n<object><name>dog</name><bndbox><xmin>1.5</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>\n</annotation>\n".to_owned()
}

/// spaCy's v2 JSON training format: a document of two paragraphs, and a training tuple.
fn valid_spacy_v2() -> String {
    r#"[{"id": 0, "paragraphs": [
  {"raw": "Ann Lee met Bo", "sentences": [{"tokens": [{"orth": "Ann", "ner": "B-PER"}, {"orth": "Lee", "ner": "L-PER"}, {"orth": "met", "ner": "O"}, {"orth": "Bo", "ner": "U-PER"}]}]},
  {"sentences": [{"tokens": [{"orth": "in", "ner": "O"}, {"orth": "Zürich", "ner": "U-LOC"}]}]}]},
 ["Bo left", {"entities": [[0, 2, "PER"]]}]]
"#.to_owned()
}

/// A YOLO set in a zip: a class list, an image's labels.
fn valid_yolo_zip() -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in [
        ("classes.txt", "cat\ndog\n"),
        ("labels/a.txt", "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n"),
        ("labels/b.txt", "1 0.5 0.5 0.9 0.9\n"),
    ] {
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("entry");
        w.write_all(text.as_bytes()).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

/// [`check`], reading leniently or not.
fn check_read(
    bytes: &[u8],
    format: UploadFormat,
    piece: usize,
    lenient: bool,
) -> Result<(), TestCaseError> {
    let schema = match format {
        UploadFormat::Conll => spans_schema(),
        UploadFormat::Voc | UploadFormat::Zip => boxes_schema(),
        UploadFormat::DocBin => spans_schema(),
        _ => schema(),
    };
    check_against(bytes, format, &schema, piece, lenient)
}

/// Parses `bytes` as `format` for `schema`, whole and in pieces: the same outcome, and an
/// error names a line inside the input (a zip's errors name lines of the files inside it).
fn check_against(
    bytes: &[u8],
    format: UploadFormat,
    schema: &LabelSchema,
    piece: usize,
    lenient: bool,
) -> Result<(), TestCaseError> {
    let schema = schema.clone();
    let whole = upload::parse_upload_with::<EncodedTask>(bytes, format, &schema, lenient);
    let pieces = upload::parse_upload_with::<EncodedTask>(
        Pieces {
            bytes,
            piece: piece.max(1),
        },
        format,
        &schema,
        lenient,
    );
    match (&whole, &pieces) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
        (Err(a), Err(b)) => prop_assert_eq!((a.line, a.column), (b.line, b.column)),
        _ => prop_assert!(false, "whole {whole:?} but in pieces {pieces:?}"),
    }
    if let Err(e) = whole {
        prop_assert!(!e.message.is_empty());
        if format == UploadFormat::Zip {
            return Ok(());
        }
        // Lines end at LF, CR or CR LF, as the CSV reader counts them (JSONL counts LF only,
        // which gives no more lines).
        let lines = 1 + bytes
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') || b == b'\r')
            .count();
        prop_assert!(
            e.line >= 1 && e.line <= lines,
            "line {} of {lines}: {e}",
            e.line
        );
        prop_assert!(!e.message.is_empty());
        if let Some(column) = e.column {
            prop_assert!(column >= 1, "{e}");
        }
    }
    Ok(())
}

/// 512 cases, or `PROPTEST_CASES` for a longer run.
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

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_break_the_readers(bytes in prop::collection::vec(any::<u8>(), 0..600), piece in 1usize..64) {
        check(&bytes, UploadFormat::Jsonl, piece)?;
        check(&bytes, UploadFormat::Csv, piece)?;
        check(&bytes, UploadFormat::Json, piece)?;
        check(&bytes, UploadFormat::Tsv, piece)?;
        check(&bytes, UploadFormat::Conll, piece)?;
        check(&bytes, UploadFormat::Voc, piece)?;
        check(&bytes, UploadFormat::Zip, piece)?;
        check(&bytes, UploadFormat::DocBin, piece)?;
    }

    #[test]
    fn damaged_voc_is_read_or_refused_at_a_line(damages in prop::collection::vec(damage(), 1..4), piece in 1usize..64, lenient in any::<bool>()) {
        check_read(&apply(valid_voc().into_bytes(), &damages), UploadFormat::Voc, piece, lenient)?;
    }

    #[test]
    fn damaged_yolo_zips_are_read_or_refused(damages in prop::collection::vec(damage(), 1..4), piece in 1usize..64, lenient in any::<bool>()) {
        check_read(&apply(valid_yolo_zip(), &damages), UploadFormat::Zip, piece, lenient)?;
    }

    #[test]
    fn damaged_spacy_json_is_read_or_refused_at_a_line(damages in prop::collection::vec(damage(), 1..4), piece in 1usize..64, lenient in any::<bool>()) {
        check_against(&apply(valid_spacy_v2().into_bytes(), &damages), UploadFormat::Json, &spans_schema(), piece, lenient)?;
    }

    #[test]
    fn damaged_conll_is_read_or_refused_at_a_line(damages in prop::collection::vec(damage(), 1..4), piece in 1usize..64, lenient in any::<bool>()) {
        check_read(&apply(valid_conll().into_bytes(), &damages), UploadFormat::Conll, piece, lenient)?;
    }

    #[test]
    fn damaged_label_studio_json_is_read_or_refused_at_a_line(damages in prop::collection::vec(damage(), 1..4), piece in 1usize..64, lenient in any::<bool>()) {
        check_read(&apply(valid_json().into_bytes(), &damages), UploadFormat::Json, piece, lenient)?;
    }

    #[test]
    fn damaged_jsonl_is_read_or_refused_at_a_line(damages in prop::collection::vec(damage(), 1..4), piece in 1usize..64) {
        check(&apply(valid_jsonl().into_bytes(), &damages), UploadFormat::Jsonl, piece)?;
    }

    #[test]
    fn damaged_csv_is_read_or_refused_at_a_line(damages in prop::collection::vec(damage(), 1..4), piece in 1usize..64) {
        check(&apply(valid_csv().into_bytes(), &damages), UploadFormat::Csv, piece)?;
    }
}

#[test]
fn the_undamaged_files_are_read() {
    for (text, format) in [
        (valid_jsonl(), UploadFormat::Jsonl),
        (valid_csv(), UploadFormat::Csv),
        (valid_json(), UploadFormat::Json),
        (valid_conll(), UploadFormat::Conll),
    ] {
        let schema = if format == UploadFormat::Conll {
            spans_schema()
        } else {
            schema()
        };
        let tasks = upload::parse_upload_from::<EncodedTask>(text.as_bytes(), format, &schema)
            .expect("valid");
        assert_eq!(tasks.tasks.len(), 3, "{format:?}");
    }
    for (bytes, format, schema, tasks) in [
        (
            valid_voc().into_bytes(),
            UploadFormat::Voc,
            boxes_schema(),
            1,
        ),
        (valid_yolo_zip(), UploadFormat::Zip, boxes_schema(), 2),
        (
            valid_spacy_v2().into_bytes(),
            UploadFormat::Json,
            spans_schema(),
            3,
        ),
    ] {
        let parsed = upload::parse_upload_from::<EncodedTask>(bytes.as_slice(), format, &schema)
            .expect("valid");
        assert_eq!(parsed.tasks.len(), tasks, "{format:?}");
    }
}
