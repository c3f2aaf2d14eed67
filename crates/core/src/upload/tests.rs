use super::*;

fn schema() -> LabelSchema {
    LabelSchema::from_json(
        r#"{"kind":"classification","labels":["positive","negative","neutral"]}"#,
    )
    .expect("valid schema")
}

/// A body big enough to be parsed in pieces on several threads.
fn big_jsonl(lines: usize) -> Vec<String> {
    (1..=lines)
        .map(|i| format!(r#"{{"id":"t{i}","data":{{"text":"sentence number {i} of a big upload, long enough"}}}}"#))
        .collect()
}

#[test]
fn a_big_upload_parsed_in_pieces_names_lines_as_if_read_whole() {
    let mut lines = big_jsonl(60_000);
    let whole = lines.join("\n");
    assert!(
        whole.len() > JSONL_PIECE_BYTES,
        "the test must cover the parallel path"
    );
    let tasks = parse_upload(&whole, UploadFormat::Jsonl, &schema()).expect("valid");
    assert_eq!(tasks.len(), 60_000);
    assert_eq!(tasks[59_999].external_id.as_deref(), Some("t60000"));

    // A line repeated whole is the same task again (merged); the same id with other data is
    // an error at the later line.
    lines[30_000] = lines[20].clone();
    let merged = parse_upload(&lines.join("\n"), UploadFormat::Jsonl, &schema()).expect("repeat");
    assert_eq!(merged.len(), 59_999);
    lines[49_999] = lines[9].replace("sentence", "other sentence");
    let e = parse_upload(&lines.join("\n"), UploadFormat::Jsonl, &schema()).expect_err("dup");
    assert_eq!(
        (e.line, e.message.as_str()),
        (
            50_000,
            "task id \"t10\" was already used on line 10, for other data"
        )
    );

    lines[44_999] = r#"{"id":"t45000","data":{"text":"x"},}"#.to_owned();
    let e = parse_upload(&lines.join("\r\n"), UploadFormat::Jsonl, &schema()).expect_err("bad");
    assert_eq!(e.line, 45_000, "{e}");
    assert!(
        e.column.is_some() && e.message.contains("invalid JSON"),
        "{e}"
    );
}

/// Hands out its bytes a few at a time (1 to 7), as a network body might, and fails
/// instead of ending when `fail_at_end` is set.
struct Trickle<'a> {
    rest: &'a [u8],
    reads: usize,
    fail_at_end: bool,
}

impl<'a> Trickle<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            reads: 0,
            fail_at_end: false,
        }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.rest.is_empty() && self.fail_at_end {
            return Err(std::io::Error::other("connection reset"));
        }
        self.reads += 1;
        let n = (self.reads % 7 + 1).min(self.rest.len()).min(buf.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

fn jsonl_trickled(text: &[u8], piece_bytes: usize) -> Result<Vec<TaskInput>, UploadError> {
    parse_jsonl(Trickle::new(text), &schema(), piece_bytes, false).map(|(tasks, _)| tasks)
}

#[test]
fn jsonl_read_in_small_pieces_parses_and_names_lines_as_if_read_whole() {
    let mut lines = big_jsonl(300);
    // One line longer than a piece: the reader must read on to its end.
    lines[120] = format!(r#"{{"id":"long","data":{{"text":"{}"}}}}"#, "x".repeat(500));
    let whole = lines.join("\n");
    for piece_bytes in [1, 64, 333, 1 << 20] {
        let tasks = jsonl_trickled(whole.as_bytes(), piece_bytes).expect("valid");
        assert_eq!(
            tasks,
            parse_upload(&whole, UploadFormat::Jsonl, &schema()).expect("valid"),
            "piece size {piece_bytes}"
        );
    }

    let mut bad = lines.clone();
    bad[250] = r#"{"id":"t251","data":{"text":"x"},}"#.to_owned();
    let mut dup = lines.clone();
    dup[280] = lines[3].replace("sentence", "other sentence");
    let mut bytes = lines[..200].join("\r\n").into_bytes();
    bytes.extend_from_slice(b"\r\n{\"data\": {\"text\": \"caf\xe9\"}}\r\n");
    for piece_bytes in [1, 64, 333] {
        let e = jsonl_trickled(bad.join("\n").as_bytes(), piece_bytes).expect_err("bad");
        assert_eq!((e.line, e.column), (251, Some(34)), "{e}");
        let e = jsonl_trickled(dup.join("\n").as_bytes(), piece_bytes).expect_err("dup");
        assert_eq!(
            (e.line, e.message.as_str()),
            (
                281,
                "task id \"t4\" was already used on line 4, for other data"
            )
        );
        let e = jsonl_trickled(&bytes, piece_bytes).expect_err("not UTF-8");
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (201, Some(23), "invalid UTF-8")
        );
    }
}

#[test]
fn a_read_that_fails_names_the_line_it_reached_and_keeps_nothing() {
    let whole = big_jsonl(50).join("\n") + "\n";
    let mut reader = Trickle::new(whole.as_bytes());
    reader.fail_at_end = true;
    let e = parse_jsonl::<TaskInput>(reader, &schema(), 256, false).expect_err("cut off");
    assert!(e.message.contains("connection reset"), "{e}");
    assert!(e.line > 1 && e.line <= 51, "{e}");
    assert!(e.read_failed, "{e:?}");

    // A bad line read before the failure is what the caller hears, as a bad line.
    let mut lines = big_jsonl(50);
    lines[2] = "{\"data\": 5}".to_owned();
    let whole = lines.join("\n") + "\n";
    let mut reader = Trickle::new(whole.as_bytes());
    reader.fail_at_end = true;
    let e = parse_jsonl::<TaskInput>(reader, &schema(), 256, false).expect_err("bad line");
    assert_eq!((e.line, e.read_failed), (3, false), "{e}");

    let csv = "text,id\nfine,a\n";
    let mut reader = Trickle::new(csv.as_bytes());
    reader.fail_at_end = true;
    let e =
        parse_upload_from::<TaskInput>(reader, UploadFormat::Csv, &schema()).expect_err("cut off");
    assert!(e.message.contains("connection reset"), "{e}");
    assert!(e.read_failed, "{e:?}");
}

#[test]
fn csv_read_in_small_pieces_parses_as_if_read_whole() {
    // A byte order mark, a quoted field across lines, CRLF line ends.
    let text = "\u{feff}id,text,prediction\r\na,\"two\r\nlines\",positive\r\nb,plain,\r\n";
    let whole = parse_upload(text, UploadFormat::Csv, &schema()).expect("valid");
    let trickled: Vec<TaskInput> =
        parse_upload_from(Trickle::new(text.as_bytes()), UploadFormat::Csv, &schema())
            .expect("valid")
            .tasks;
    assert_eq!(trickled, whole);
    assert_eq!(whole.len(), 2);
    assert_eq!(whole[0].external_id.as_deref(), Some("a"));
    assert_eq!(whole[0].data["text"], "two\r\nlines");
    let bad = "id,text,prediction\na,\"two\nlines\",positive\nb,x,ecstatic\n";
    let e =
        parse_upload_from::<TaskInput>(Trickle::new(bad.as_bytes()), UploadFormat::Csv, &schema())
            .expect_err("bad label");
    assert_eq!(
        (e.line, e.column, e.read_failed),
        (4, Some(3), false),
        "{e}"
    );
}

#[test]
fn encoded_tasks_carry_what_the_parse_read() {
    let text = concat!(
        r#"{"id":"a","data":{"text":"ünïcode \"quoted\""},"predictions":[{"model_version":"m2","score":0.25,"result":"negative"}]}"#,
        "\n",
        r#"{"data":{"text":"gold one","extra":[1,2.5,null]},"gold":"positive"}"#,
    );
    let parsed = parse_upload(text, UploadFormat::Jsonl, &schema()).expect("valid");
    let encoded: Vec<crate::EncodedTask> =
        parse_upload_from(text.as_bytes(), UploadFormat::Jsonl, &schema())
            .expect("valid")
            .tasks;
    assert_eq!(encoded.len(), 2);
    for (task, enc) in parsed.iter().zip(&encoded) {
        assert_eq!(enc.external_id, task.external_id);
        let data: Map<String, Value> = serde_json::from_str(&enc.data).expect("data");
        assert_eq!(data, task.data);
        let prediction: Option<Prediction> = enc
            .prediction
            .as_deref()
            .map(|p| serde_json::from_str(p).expect("prediction"));
        assert_eq!(prediction.as_ref(), task.predictions.first());
        let gold: Option<Vec<String>> = enc
            .gold
            .as_deref()
            .map(|g| serde_json::from_str(g).expect("gold"));
        assert_eq!(gold, task.gold);
    }
    assert_eq!(encoded[1].gold.as_deref(), Some(r#"["positive"]"#));
    assert_eq!(
        encoded[0]
            .prediction
            .as_deref()
            .map(|p| p.contains("\"m2\"")),
        Some(true)
    );
}

#[test]
fn jsonl_accepts_plain_and_label_studio_results() {
    let text = concat!(
        r#"{"id": "a1", "data": {"text": "great"}, "predictions": [{"model_version": "m1", "score": 0.87, "result": "positive"}]}"#,
        "\n\n",
        r#"{"data": {"text": "awful"}, "predictions": [{"score": 0.6, "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["negative"]}}]}]}"#,
        "\n",
        r#"{"id": 7, "data": {"text": "meh"}}"#,
    );
    let tasks = parse_upload(text, UploadFormat::Jsonl, &schema()).expect("valid upload");
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[0].external_id.as_deref(), Some("a1"));
    let p0 = tasks[0].predictions.first().expect("prediction");
    assert_eq!(p0.labels, vec!["positive"]);
    assert_eq!(p0.score, Some(0.87));
    assert_eq!(p0.model_version.as_deref(), Some("m1"));
    let p1 = tasks[1].predictions.first().expect("prediction");
    assert_eq!(p1.labels, vec!["negative"]);
    assert_eq!(tasks[2].external_id.as_deref(), Some("7"));
    assert!(tasks[2].predictions.is_empty());
}

#[test]
fn jsonl_errors_name_line_and_column() {
    let text = "{\"data\": {\"text\": \"ok\"}}\n{\"data\": {\"text\": \"ok\"}\n";
    let e = parse_upload(text, UploadFormat::Jsonl, &schema()).expect_err("bad json");
    assert_eq!(e.line, 2);
    assert!(e.column.is_some(), "{e}");
    assert!(e.to_string().starts_with("line 2, column"), "{e}");

    let text = "{\"data\": {\"text\": \"ok\"}}\n\n{\"data\": {\"text\": \"x\"}, \"predictions\": [{\"result\": \"joy\"}]}";
    let e = parse_upload(text, UploadFormat::Jsonl, &schema()).expect_err("bad label");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("\"joy\""), "{e}");

    // Without a "data" object the task's own keys are its data (as Label Studio takes it);
    // beside one, a key that is neither a task's nor another tool's bookkeeping is refused.
    let plain = parse_upload("{\"text\": \"x\"}", UploadFormat::Jsonl, &schema()).expect("plain");
    assert_eq!(plain[0].data["text"], "x");
    let e = parse_upload(
        "{\"data\": {\"text\": \"x\"}, \"predictons\": []}",
        UploadFormat::Jsonl,
        &schema(),
    )
    .expect_err("typo");
    assert!(e.message.contains("unknown field \"predictons\""), "{e}");

    let text = "{\"id\":\"x\",\"data\":{\"text\":\"a\"}}\n{\"id\":\"x\",\"data\":{\"text\":\"b\"}}";
    let e = parse_upload(text, UploadFormat::Jsonl, &schema()).expect_err("dup id");
    assert_eq!((e.line, e.message.contains("line 1")), (2, true), "{e}");

    let e = parse_upload("\n \n", UploadFormat::Jsonl, &schema()).expect_err("empty");
    assert!(e.message.contains("no tasks"));
}

#[test]
fn csv_reads_data_columns_and_predictions() {
    let text = "id,text,prediction,prediction_score\nt1,\"Good, really\",positive,0.9\nt2,Bad,,\n";
    let tasks = parse_upload(text, UploadFormat::Csv, &schema()).expect("valid csv");
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].data["text"], "Good, really");
    assert_eq!(
        tasks[0].predictions.first().map(|p| p.score),
        Some(Some(0.9))
    );
    assert!(tasks[1].predictions.is_empty());
}

#[test]
fn csv_errors_name_line_and_column() {
    let text = "text,prediction,prediction_score\nfine,positive,0.5\nbad,positive,high\n";
    let e = parse_upload(text, UploadFormat::Csv, &schema()).expect_err("bad score");
    assert_eq!((e.line, e.column), (3, Some(3)), "{e}");

    let text = "text,prediction\nfine,positive\nbad,positive,extra\n";
    let e = parse_upload(text, UploadFormat::Csv, &schema()).expect_err("ragged");
    assert_eq!(e.line, 3, "{e}");

    let text = "text,prediction\nfine,happy\n";
    let e = parse_upload(text, UploadFormat::Csv, &schema()).expect_err("label");
    assert_eq!((e.line, e.column), (2, Some(2)), "{e}");
}

#[test]
fn a_stray_quote_is_an_error_at_its_line_never_the_rest_of_the_file_as_one_field() {
    // The quote opens in the last column: a lenient reader takes every later line into
    // that one field and reports nothing.
    let text = "text,prediction\nfine,positive\nbad,\"positive\nmore,negative\nlast,neutral\n";
    let e = parse_upload(text, UploadFormat::Csv, &schema()).expect_err("stray quote");
    assert_eq!((e.line, e.column), (3, Some(2)), "{e}");
    assert!(e.message.contains("never closed"), "{e}");
    let text = "text,prediction\nsay \"hi\" twice,positive\n";
    let e = parse_upload(text, UploadFormat::Csv, &schema()).expect_err("bare quote");
    assert_eq!((e.line, e.column), (2, Some(1)), "{e}");
    // Quoted the standard way, the same text is fine.
    let text = "text,prediction\n\"say \"\"hi\"\" twice\",positive\n";
    let tasks = parse_upload(text, UploadFormat::Csv, &schema()).expect("quoted");
    assert_eq!(tasks[0].data["text"], "say \"hi\" twice");
}

/// Reads its bytes `n` at a time.
struct Pieces<'a>(&'a [u8], usize);

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_byte_order_mark_is_dropped_however_it_arrives() {
    let text = "\u{feff}text,prediction\nfine,positive\n";
    for piece in [1, 2, 3, 4, 64] {
        let tasks: Vec<TaskInput> =
            parse_upload_from(Pieces(text.as_bytes(), piece), UploadFormat::Csv, &schema())
                .expect("valid")
                .tasks;
        assert_eq!(tasks[0].data["text"], "fine", "pieces of {piece}");
    }
    // A file of nothing but the mark holds no tasks, in pieces or whole.
    for piece in [1, 3] {
        let e = parse_upload_from::<TaskInput>(
            Pieces("\u{feff}".as_bytes(), piece),
            UploadFormat::Csv,
            &schema(),
        )
        .expect_err("empty");
        assert!(e.message.contains("no tasks"), "{e}");
    }
}

#[test]
fn reserved_columns_are_matched_whatever_their_case() {
    let text = "ID,text,GOLD,Prediction\nt1,fine,positive,negative\n";
    let tasks = parse_upload(text, UploadFormat::Csv, &schema()).expect("valid csv");
    let task = &tasks[0];
    assert_eq!(task.external_id.as_deref(), Some("t1"));
    assert_eq!(task.gold.as_deref(), Some(&["positive".to_owned()][..]));
    assert!(
        task.data.keys().all(|k| k == "text"),
        "the gold answer is not task data: {:?}",
        task.data
    );
    assert!(!task.predictions.is_empty());
    let e = parse_upload(
        "text,gold,Gold\nx,positive,positive\n",
        UploadFormat::Csv,
        &schema(),
    )
    .expect_err("gold twice");
    assert_eq!((e.line, e.column), (1, Some(3)), "{e}");
}

#[test]
fn a_header_of_too_many_columns_is_refused_at_once() {
    // Checked in one pass: a quadratic check took 27 s for 80,000 columns.
    let names: Vec<String> = (0..200_000).map(|i| format!("c{i}")).collect();
    let text = format!("text,{}\n", names.join(","));
    let e = parse_upload(&text, UploadFormat::Csv, &schema()).expect_err("too wide");
    assert_eq!((e.line, e.column), (1, Some(MAX_CSV_COLUMNS + 1)), "{e}");
    assert!(e.message.contains("200001 columns"), "{e}");
    let fits: Vec<String> = (1..MAX_CSV_COLUMNS).map(|i| format!("c{i}")).collect();
    let text = format!("text,{}\nhello{}\n", fits.join(","), ",".repeat(fits.len()));
    assert_eq!(
        parse_upload(&text, UploadFormat::Csv, &schema())
            .expect("at the cap")
            .len(),
        1
    );
}

#[test]
fn formats_are_recognised() {
    assert_eq!(
        UploadFormat::from_file_name("a.JSONL"),
        Some(UploadFormat::Jsonl)
    );
    assert_eq!(
        UploadFormat::from_file_name("a.csv"),
        Some(UploadFormat::Csv)
    );
    assert_eq!(UploadFormat::from_file_name("a.txt"), None);
    for f in [UploadFormat::Jsonl, UploadFormat::Csv] {
        assert_eq!(UploadFormat::from_media_type(f.media_type()), Some(f));
    }
}

#[test]
fn pairwise_and_text_uploads_follow_their_kind() {
    let pairwise =
        LabelSchema::from_json(r#"{"kind":"pairwise","labels":["A","B","tie"]}"#).expect("valid");
    let text = concat!(
        r#"{"data": {"text": "Which reply is kinder?", "a": "Sure!", "b": "No."}, "predictions": [{"result": "A"}]}"#,
        "\n",
        r#"{"data": {"text": "Which reply is kinder?", "a": "Sure!"}}"#,
        "\n",
    );
    let e = parse_upload(text, UploadFormat::Jsonl, &pairwise).expect_err("no b");
    assert_eq!(e.line, 2, "{e}");
    assert!(e.to_string().contains("\"a\" and \"b\""), "{e}");

    let free = LabelSchema::from_json(r#"{"kind":"text"}"#).expect("valid");
    let csv = "image,prediction,gold\nhttps://x/1.png,Fish | chips,\n,,a caption\n";
    let e = parse_upload(csv, UploadFormat::Csv, &free).expect_err("nothing to transcribe");
    assert_eq!(e.line, 3, "{e}");
    let tasks = parse_upload(
        &csv[..csv.rfind(",,").expect("row")],
        UploadFormat::Csv,
        &free,
    )
    .expect("valid");
    assert_eq!(
        tasks[0].predictions.first().map(|p| p.labels.clone()),
        Some(vec!["Fish | chips".to_owned()]),
        "free text keeps its | characters"
    );
}

#[test]
fn label_studio_span_regions_become_spans() {
    let schema =
        LabelSchema::from_json(r#"{"kind":"spans","labels":["PER","ORG"]}"#).expect("valid");
    let text = concat!(
        r#"{"data": {"text": "Ada met IBM"}, "predictions": [{"result": [{"type": "labels", "value": {"start": 0, "end": 3, "labels": ["PER"]}}, {"type": "labels", "value": {"start": 8, "end": 11, "labels": ["ORG"]}}]}]}"#,
        "\n",
        r#"{"data": {"image": "https://x/1.png"}}"#,
        "\n",
    );
    let e = parse_upload(text, UploadFormat::Jsonl, &schema).expect_err("no text to mark");
    assert_eq!(e.line, 2, "{e}");
    let tasks = parse_upload(
        &text[..text.find('\n').expect("line") + 1],
        UploadFormat::Jsonl,
        &schema,
    )
    .expect("valid");
    assert_eq!(
        tasks[0].predictions.first().map(|p| p.labels.clone()),
        Some(vec!["0:3:PER".to_owned(), "8:11:ORG".to_owned()])
    );
    let boxes = LabelSchema::from_json(r#"{"kind":"boxes","labels":["car"]}"#).expect("valid");
    let rect = r#"{"data": {"image": "https://x/1.png"}, "predictions": [{"result": [{"type": "rectanglelabels", "value": {"x": 10, "y": 20, "width": 30, "height": 15, "rectanglelabels": ["car"]}}]}]}"#;
    let tasks = parse_upload(rect, UploadFormat::Jsonl, &boxes).expect("valid");
    assert_eq!(
        tasks[0].predictions.first().map(|p| p.labels.clone()),
        Some(vec!["0.1,0.2,0.3,0.15:car".to_owned()])
    );
}

fn boxes_schema() -> LabelSchema {
    LabelSchema::from_json(r#"{"kind": "boxes", "labels": ["car", "dog"]}"#).expect("schema")
}

/// A Label Studio export of one image with two annotators, written for this test in the
/// shape Label Studio exports (bookkeeping keys and all).
const LS_EXPORT: &str = r#"[
  {
    "id": 11,
    "data": {"image": "https://example.com/a.jpg"},
    "meta": {"source": "camera 2"},
    "agreement": 50.0,
    "inner_id": 1,
    "predictions": [
      {"model_version": "yolo-1", "score": 0.9, "result": [{"type": "rectanglelabels", "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["car"]}}]},
      {"model_version": "yolo-2", "score": 0.7, "result": [{"type": "rectanglelabels", "value": {"x": 11, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["car"]}}]}
    ],
    "annotations": [
      {"id": 1, "completed_by": 4, "updated_at": "2025-01-02T03:04:05Z", "lead_time": 3.5,
       "result": [
         {"type": "rectanglelabels", "value": {"x": 90, "y": 10, "width": 10.5, "height": 20, "rectanglelabels": ["dog"]}},
         {"type": "polygonlabels", "value": {"points": [[1, 1], [2, 2], [1, 3]], "polygonlabels": ["car"]}}
       ]},
      {"id": 2, "completed_by": {"id": 5, "email": "ann@example.com"}, "was_cancelled": true, "result": []},
      {"id": 3, "completed_by": 6, "ground_truth": true,
       "result": [{"type": "rectanglelabels", "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["car"]}}]}
    ]
  }
]"#;

#[test]
fn a_label_studio_export_keeps_answers_predictions_meta_and_reports_the_rest() {
    let strict =
        parse_upload_from::<TaskInput>(LS_EXPORT.as_bytes(), UploadFormat::Json, &boxes_schema())
            .expect_err("a polygon in a boxes project");
    assert_eq!(strict.line, 2, "{strict}");
    assert!(
        strict
            .message
            .contains("annotations[0]: result[1]: a \"polygonlabels\" region"),
        "{strict}"
    );

    let parsed = parse_upload_with::<TaskInput>(
        LS_EXPORT.as_bytes(),
        UploadFormat::Json,
        &boxes_schema(),
        true,
    )
    .expect("lenient");
    let task = &parsed.tasks[0];
    assert_eq!(task.external_id.as_deref(), Some("11"));
    assert_eq!(
        task.meta.as_ref().map(|m| m["source"].clone()),
        Some(Value::from("camera 2"))
    );
    let versions: Vec<_> = task
        .predictions
        .iter()
        .map(|p| p.model_version.as_deref())
        .collect();
    assert_eq!(versions, [Some("yolo-1"), Some("yolo-2")]);
    let who: Vec<(&str, bool)> = task
        .answers
        .iter()
        .map(|a| (a.annotator.as_str(), a.skipped))
        .collect();
    assert_eq!(
        who,
        [
            ("label-studio:4", false),
            ("ann@example.com", true),
            ("label-studio:6", false)
        ]
    );
    assert_eq!(
        task.answers[0].labels,
        ["0.9,0.1,0.1,0.2:dog"],
        "cut at the right edge"
    );
    assert_eq!(
        task.answers[0].answered_at.as_deref(),
        Some("2025-01-02T03:04:05Z")
    );
    assert_eq!(
        task.gold,
        Some(vec!["0.1,0.1,0.2,0.2:car".to_owned()]),
        "ground truth is gold"
    );
    let report = &parsed.report;
    assert_eq!(report.clamped_boxes, 1);
    assert_eq!(report.left_out.len(), 1);
    assert_eq!(
        (report.left_out[0].line, report.left_out[0].item.as_str()),
        (2, "result[1]")
    );
    for key in ["agreement", "inner_id", "annotations.lead_time"] {
        assert!(
            report.ignored_keys.contains_key(key),
            "{key}: {:?}",
            report.ignored_keys
        );
    }
}

#[test]
fn the_format_is_found_from_the_content_first() {
    let detect = |name: &str, text: &str| UploadFormat::detect(name, text.as_bytes());
    assert_eq!(
        detect("x.jsonl", "[{\"text\": \"a\"}]"),
        Some(UploadFormat::Json)
    );
    assert_eq!(
        detect("x.json", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n"),
        Some(UploadFormat::Jsonl)
    );
    assert_eq!(
        detect("x", "{\n  \"text\": \"a\"\n}"),
        Some(UploadFormat::Json)
    );
    assert_eq!(detect("x.csv", "text\nhello\n"), Some(UploadFormat::Csv));
    assert_eq!(detect("x.txt", "text\nhello\n"), None);
}

#[test]
fn toloka_results_rows_are_answers_and_a_task_answered_twice_is_one_task() {
    let schema = LabelSchema::from_json(r#"{"kind": "classification", "labels": ["yes", "no"]}"#)
        .expect("schema");
    // The columns Toloka's results download has; a quote is text in a TSV.
    let tsv = "INPUT:text\tOUTPUT:result\tGOLDEN:result\tHINT:text\tASSIGNMENT:task_id\tASSIGNMENT:worker_id\tASSIGNMENT:submitted\tASSIGNMENT:reward\n\
               a \"quoted\" word\tyes\t\t\tt-1\tw1\t2021-05-09T12:34:56.789\t0.01\n\
               a \"quoted\" word\tno\t\t\tt-1\tw2\t2021-05-09T12:35:00.000\t0.01\n\
               a control\tno\tno\tit says no\tt-2\tw1\t2021-05-09T12:36:00.000\t0.01\n";
    let parsed = parse_upload_from::<TaskInput>(tsv.as_bytes(), UploadFormat::Tsv, &schema)
        .expect("results");
    assert_eq!(parsed.tasks.len(), 2, "t-1 answered twice is one task");
    let t1 = &parsed.tasks[0];
    assert_eq!(t1.data["text"], "a \"quoted\" word");
    let who: Vec<(&str, &str)> = t1
        .answers
        .iter()
        .map(|a| (a.annotator.as_str(), a.labels[0].as_str()))
        .collect();
    assert_eq!(who, [("w1", "yes"), ("w2", "no")]);
    let t2 = &parsed.tasks[1];
    assert_eq!(t2.gold, Some(vec!["no".to_owned()]));
    assert_eq!(
        t2.meta.as_ref().map(|m| m["HINT:text"].clone()),
        Some(Value::from("it says no"))
    );
    assert_eq!(
        parsed.report.ignored_keys.get("ASSIGNMENT:reward"),
        Some(&1)
    );
    let e = parse_upload_from::<TaskInput>(
        "INPUT:text\tOUTPUT:result\nhello\tyes\n".as_bytes(),
        UploadFormat::Tsv,
        &schema,
    )
    .expect_err("no worker");
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn a_file_read_whole_is_refused_past_its_cap() {
    let e = read_whole(&[b'x'; 2048][..], 1 << 10).expect_err("too big");
    assert!(e.message.contains("upload JSONL"), "{e}");
    assert_eq!(
        read_whole(&[b'x'; 1024][..], 1 << 10)
            .expect("at the cap")
            .len(),
        1024
    );
}
