//! Which schema edits a project with work in it can take: adding labels, rewording
//! instructions and changing the assignment, gold and suspension settings always; changing
//! the kind, removing a label something holds, or going from several labels an answer to one
//! while answers hold several — never, as they would leave stored work meaning nothing.

use tessera_core::{LabelSchema, SchemaKind};

use crate::store::LabelUsage;

/// Why `new` cannot replace `old` in a project whose labels are used as `usage` says, or
/// `None` when it can.
pub fn refusal(old: &LabelSchema, new: &LabelSchema, usage: &LabelUsage) -> Option<String> {
    if let Err(e) = new.validate() {
        return Some(e.to_string());
    }
    if new.kind != old.kind && usage.tasks > 0 {
        return Some(format!(
            "the project's {} tasks are {} tasks: a {} project is a new project",
            usage.tasks,
            old.kind.as_str(),
            new.kind.as_str()
        ));
    }
    for label in old.labels.iter().filter(|l| !new.labels.contains(l)) {
        let held: u64 = usage
            .labels
            .iter()
            .filter(|(stored, _)| label_of(old.kind, stored) == Some(label.as_str()))
            .map(|(_, n)| n)
            .sum();
        if held > 0 {
            return Some(format!(
                "label {label:?} is held {held} times by answers, gold, reviews, predictions or consensus: keep it (labels may be added, not taken away once used)"
            ));
        }
    }
    if old.multiple && !new.multiple && usage.multi_label_answers > 0 {
        return Some(format!(
            "{} answers hold several labels: the project must keep allowing several",
            usage.multi_label_answers
        ));
    }
    None
}

/// The schema label a stored label string names: itself, or for spans (`start:end:label`)
/// and boxes (`x,y,w,h:label`) the part after the position.
fn label_of(kind: SchemaKind, stored: &str) -> Option<&str> {
    match kind {
        SchemaKind::Spans => stored.splitn(3, ':').nth(2),
        SchemaKind::Boxes => stored.split_once(':').map(|(_, label)| label),
        _ => Some(stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(json: &str) -> LabelSchema {
        LabelSchema::from_json(json).expect("schema")
    }

    fn usage(labels: &[(&str, u64)], multi: u64) -> LabelUsage {
        LabelUsage {
            tasks: 10,
            labels: labels.iter().map(|(l, n)| ((*l).to_owned(), *n)).collect(),
            multi_label_answers: multi,
        }
    }

    #[test]
    fn settings_and_new_labels_pass_and_used_labels_stay() {
        let old = schema(r#"{"kind":"classification","labels":["a","b","c"],"overlap":3}"#);
        let used = usage(&[("a", 4), ("b", 1)], 0);
        let wider = schema(
            r#"{"kind":"classification","labels":["a","b","c","d"],"overlap":2,"instructions":"new"}"#,
        );
        assert_eq!(refusal(&old, &wider, &used), None);
        // "c" was never used: it may go; "b" may not.
        let no_c = schema(r#"{"kind":"classification","labels":["a","b"]}"#);
        assert_eq!(refusal(&old, &no_c, &used), None);
        let no_b = schema(r#"{"kind":"classification","labels":["a","c"]}"#);
        let why = refusal(&old, &no_b, &used).expect("refused");
        assert!(why.contains("\"b\"") && why.contains("1 times"), "{why}");
        let rating = schema(r#"{"kind":"rating","labels":["1","2"]}"#);
        assert!(
            refusal(&old, &rating, &used)
                .expect("refused")
                .contains("10 tasks")
        );
        let invalid = schema(r#"{"kind":"classification","labels":["a","b"]}"#);
        let mut invalid = invalid;
        invalid.overlap = 0;
        assert!(refusal(&old, &invalid, &used).is_some());
    }

    #[test]
    fn spans_count_their_label_and_several_labels_stay_allowed_once_used() {
        let old = schema(r#"{"kind":"spans","labels":["PER","ORG"]}"#);
        let used = usage(&[("0:4:PER", 3)], 0);
        let no_org = schema(r#"{"kind":"spans","labels":["PER"]}"#);
        assert_eq!(refusal(&old, &no_org, &used), None);
        let no_per = schema(r#"{"kind":"spans","labels":["ORG"]}"#);
        assert!(refusal(&old, &no_per, &used).is_some());
        let multi = schema(r#"{"kind":"classification","labels":["a","b"],"multiple":true}"#);
        let single = schema(r#"{"kind":"classification","labels":["a","b"]}"#);
        assert!(refusal(&multi, &single, &usage(&[], 2)).is_some());
        assert_eq!(refusal(&multi, &single, &usage(&[], 0)), None);
    }
}
