use super::*;

fn with_labels(labels: &[&str]) -> Result<LabelSchema, String> {
    let labels: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
    LabelSchema::from_json(
        &serde_json::json!({"kind": "classification", "labels": labels}).to_string(),
    )
}

#[test]
fn lookalike_labels_are_one_label_or_refused() {
    // NFC and NFD spellings of the same word, and a padded copy: the same label.
    let e = with_labels(&["caf\u{e9}", "cafe\u{301}"]).expect_err("NFC/NFD twice");
    assert!(e.contains("listed twice"), "{e}");
    let e = with_labels(&["yes", " yes "]).expect_err("padded twice");
    assert!(e.contains("listed twice"), "{e}");
    let kept = with_labels(&["cafe\u{301}", " no"]).expect("normalized");
    assert_eq!(kept.labels, ["caf\u{e9}", "no"]);
    // Invisible characters would make two labels look alike.
    for sneaky in ["ye\u{200b}s", "no\u{feff}", "a\u{202e}b", "x\u{7}"] {
        let e = with_labels(&["yes", sneaky]).expect_err(sneaky);
        assert!(e.contains("invisible"), "{sneaky:?}: {e}");
    }
    // A schema sent as JSON without normalizing is refused, not silently kept.
    let raw: LabelSchema =
        serde_json::from_str(r#"{"kind": "classification", "labels": ["a ", "b"]}"#)
            .expect("parse");
    assert!(matches!(
        raw.validate(),
        Err(SchemaError::UnnormalizedLabel(_))
    ));
}

#[test]
fn a_schema_sent_with_every_lease_stays_small() {
    let many: Vec<String> = (0..=MAX_LABELS).map(|i| format!("l{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let e = with_labels(&refs).expect_err("too many labels");
    assert!(e.contains("at most 1000 labels"), "{e}");
    assert!(with_labels(&refs[..MAX_LABELS]).is_ok());
    let long = "x".repeat(MAX_LABEL_CHARS + 1);
    assert!(with_labels(&["a", &long]).is_err());
    let text = serde_json::json!({
        "kind": "classification", "labels": ["a", "b"],
        "instructions": "i".repeat(MAX_INSTRUCTIONS_BYTES + 1),
    });
    let e = LabelSchema::from_json(&text.to_string()).expect_err("instructions");
    assert!(e.contains("instructions"), "{e}");
}

#[test]
fn the_documented_minimal_schema_is_accepted() {
    let s = LabelSchema::from_json(
            r#"{"kind": "classification", "labels": ["positive", "negative", "neutral"], "overlap": 3}"#,
        )
        .expect("valid schema");
    assert_eq!(s.labels.len(), 3);
    assert_eq!(s.overlap, 3);
    assert!(!s.multiple);
}

#[test]
fn a_fixed_overlap_completes_at_overlap_and_sends_splits_to_review() {
    let s = LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b"],"overlap":3}"#)
        .expect("valid");
    let steps: Vec<(bool, u32, bool)> = (0..=3)
        .map(|n| {
            let p = s.progress(n, Some(0.34));
            (p.complete, p.wanted, p.needs_review)
        })
        .collect();
    // A three-way split (no label has most of the weight) goes to review once complete.
    assert_eq!(
        steps,
        [
            (false, 3, false),
            (false, 3, false),
            (false, 3, false),
            (true, 3, true)
        ]
    );
    // Two of three agreeing, or a tie exactly at the bar, does not.
    assert!(!s.progress(3, Some(0.67)).needs_review);
    assert!(!s.progress(2, Some(0.5)).needs_review);
    let off = LabelSchema::from_json(
        r#"{"kind":"classification","labels":["a","b"],"overlap":3,"review_below":0}"#,
    )
    .expect("valid");
    assert!(!off.progress(3, Some(0.34)).needs_review);
    let bad =
        LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b"],"review_below":2}"#);
    assert!(bad.is_err());
}

#[test]
fn a_confidence_target_without_min_still_asks_everyone_but_flags_doubt() {
    let s = LabelSchema::from_json(
        r#"{"kind":"classification","labels":["a","b"],"overlap":3,"confidence_target":0.9}"#,
    )
    .expect("valid");
    assert_eq!(s.progress(2, Some(1.0)).wanted, 3);
    assert!(!s.progress(2, Some(1.0)).complete);
    assert!(s.progress(3, Some(0.67)).needs_review);
    assert!(!s.progress(3, Some(1.0)).needs_review);
}

#[test]
fn overlap_defaults_to_three() {
    let s =
        LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b"]}"#).expect("valid");
    assert_eq!(s.overlap, 3);
}

#[test]
fn bad_schemas_are_rejected_with_a_reason() {
    let cases = [
        (r#"{"kind":"classification","labels":["a"]}"#, "two labels"),
        (r#"{"kind":"classification","labels":["a","a"]}"#, "twice"),
        (r#"{"kind":"classification","labels":["a"," "]}"#, "empty"),
        (
            r#"{"kind":"classification","labels":["a","b"],"overlap":0}"#,
            "overlap",
        ),
        (
            r#"{"kind":"classification","labels":["a","b"],"offline_quota":0}"#,
            "offline_quota",
        ),
        (
            r#"{"kind":"classification","labels":["a","b"],"overlap":3,"min_overlap":2}"#,
            "needs a confidence_target",
        ),
        (
            r#"{"kind":"classification","labels":["a","b"],"overlap":3,"min_overlap":4,"confidence_target":0.8}"#,
            "min_overlap",
        ),
        (
            r#"{"kind":"classification","labels":["a","b"],"confidence_target":1.5}"#,
            "confidence_target",
        ),
        (
            r#"{"kind":"classification","labels":["a","b"],"colour":1}"#,
            "unknown field",
        ),
        (
            r#"{"kind":"polygons","labels":["a","b"]}"#,
            "unknown variant",
        ),
        (
            r#"{"kind":"rating","labels":["1"]}"#,
            "rating schema needs at least two",
        ),
        (
            r#"{"kind":"pairwise","labels":["A"]}"#,
            "two or three labels",
        ),
        (
            r#"{"kind":"pairwise","labels":["A","B","=","?"]}"#,
            "two or three labels",
        ),
        (r#"{"kind":"text","labels":["a","b"]}"#, "takes no labels"),
        (
            r#"{"kind":"spans"}"#,
            "spans schema needs at least one label",
        ),
        (
            r#"{"kind":"boxes","labels":[]}"#,
            "boxes schema needs at least one label",
        ),
        (
            r#"{"kind":"rating","labels":["1","2"],"multiple":true}"#,
            "classification only",
        ),
    ];
    for (json, needle) in cases {
        let err = LabelSchema::from_json(json).expect_err(json);
        assert!(err.contains(needle), "{json}: {err}");
    }
}

#[test]
fn answers_are_checked_against_the_schema() {
    let mut s =
        LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b"]}"#).expect("valid");
    assert_eq!(s.check_answer(&["a".into()]), Ok(()));
    assert_eq!(s.check_answer(&[]), Err(SchemaError::NoLabel));
    assert_eq!(
        s.check_answer(&["c".into()]),
        Err(SchemaError::UnknownLabel("c".into()))
    );
    assert_eq!(
        s.check_answer(&["a".into(), "b".into()]),
        Err(SchemaError::TooManyLabels(2))
    );
    s.multiple = true;
    assert_eq!(s.check_answer(&["a".into(), "b".into()]), Ok(()));
}

#[test]
fn pushes_carry_a_reason_only_when_skipped_and_unsure_only_when_answered() {
    let s =
        LabelSchema::from_json(r#"{"kind":"classification","labels":["a","b"]}"#).expect("valid");
    assert_eq!(s.check_push(&[], true, false, Some("unclear")), Ok(()));
    assert_eq!(s.check_push(&["a".into()], false, true, None), Ok(()));
    assert_eq!(
        s.check_push(&[], true, true, None),
        Err(SchemaError::MisplacedFlag)
    );
    assert_eq!(
        s.check_push(&["a".into()], false, false, Some("unclear")),
        Err(SchemaError::MisplacedFlag)
    );
    assert_eq!(
        s.check_push(&[], true, false, Some(" ")),
        Err(SchemaError::SkipReason)
    );
    assert_eq!(
        s.check_push(&["z".into()], false, false, None),
        Err(SchemaError::UnknownLabel("z".into()))
    );
}

#[test]
fn every_kind_checks_its_own_answers() {
    let pair =
        LabelSchema::from_json(r#"{"kind":"pairwise","labels":["A","B","tie"]}"#).expect("valid");
    assert_eq!(pair.check_answer(&["tie".into()]), Ok(()));
    assert_eq!(
        pair.check_answer(&["C".into()]),
        Err(SchemaError::UnknownLabel("C".into()))
    );
    let rating =
        LabelSchema::from_json(r#"{"kind":"rating","labels":["1","2","3"]}"#).expect("valid");
    assert_eq!(
        rating.check_answer(&["1".into(), "2".into()]),
        Err(SchemaError::TooManyLabels(2))
    );
    let text = LabelSchema::from_json(r#"{"kind":"text"}"#).expect("a text schema needs no labels");
    assert_eq!(text.check_answer(&["Hello, world".into()]), Ok(()));
    assert_eq!(
        text.check_answer(&[" \n".into()]),
        Err(SchemaError::EmptyText)
    );
    assert_eq!(text.check_answer(&[]), Err(SchemaError::TextAnswerParts(0)));
    assert_eq!(
        text.check_answer(&["a".into(), "b".into()]),
        Err(SchemaError::TextAnswerParts(2))
    );
    let spans =
        LabelSchema::from_json(r#"{"kind":"spans","labels":["PER","ORG"]}"#).expect("valid");
    assert_eq!(spans.check_answer(&[]), Ok(()), "no entity is an answer");
    assert_eq!(
        spans.check_answer(&["0:4:PER".into(), "10:13:ORG".into()]),
        Ok(())
    );
    assert_eq!(
        spans.check_answer(&["4:0:PER".into()]),
        Err(SchemaError::BadSpan("4:0:PER".into()))
    );
    assert_eq!(
        spans.check_answer(&["0:4:LOC".into()]),
        Err(SchemaError::UnknownLabel("LOC".into()))
    );
    assert_eq!(
        spans.check_answer(&["0:4:PER".into(), "0:4:PER".into()]),
        Err(SchemaError::DuplicateSpan("0:4:PER".into()))
    );
    let boxes = LabelSchema::from_json(r#"{"kind":"boxes","labels":["car"]}"#).expect("valid");
    assert_eq!(boxes.check_answer(&[]), Ok(()));
    assert_eq!(boxes.check_answer(&["0.1,0.1,0.2,0.2:car".into()]), Ok(()));
    assert_eq!(
        boxes.check_answer(&["0.9,0.1,0.2,0.2:car".into()]),
        Err(SchemaError::BadBox("0.9,0.1,0.2,0.2:car".into()))
    );
    assert_eq!(
        boxes.check_answer(&["0.1,0.1,0.2,0.2:bus".into()]),
        Err(SchemaError::UnknownLabel("bus".into()))
    );
    let long = "é".repeat(MAX_TEXT_ANSWER + 1);
    assert_eq!(
        text.check_answer(&[long]),
        Err(SchemaError::TextTooLong {
            got: MAX_TEXT_ANSWER + 1,
            max: MAX_TEXT_ANSWER
        })
    );
}
