//! Label Studio labeling configs (XML) as Tessera schemas, so a project moves in with the
//! config it already has.
//!
//! A Tessera project holds one kind of answer, so a config may hold one control tag:
//! `Choices` (one or, with `choice="multiple"`, several), `Labels` on a `Text` (spans),
//! `RectangleLabels` on an `Image` (boxes), `TextArea` (free text), `Rating` (a scale of
//! `maxRating` points) or `Pairwise`. `Header` texts become the instructions. Any other tag
//! that asks for an answer is refused by name.

use roxmltree::{Document, Node};
use serde_json::json;

use crate::schema::LabelSchema;

/// Why a labeling config cannot become a schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelConfigError {
    #[error("the labeling config is not XML: {0}")]
    NotXml(String),
    #[error(
        "<{0}> is a Label Studio tag Tessera cannot keep answers of; a project takes one of Choices, Labels, RectangleLabels, TextArea, Rating or Pairwise"
    )]
    Unsupported(String),
    #[error(
        "the labeling config asks for no answer: it needs one of Choices, Labels, RectangleLabels, TextArea, Rating or Pairwise"
    )]
    NoControl,
    #[error(
        "a Tessera project holds one kind of answer, and this config asks for {0}: keep one of them"
    )]
    SeveralControls(String),
    #[error("<{tag} name={name:?}>: {message}")]
    Invalid {
        tag: String,
        name: String,
        message: String,
    },
}

/// Tags that show data or arrange the page: no answer comes of them.
const LAYOUT: &[&str] = &[
    "View",
    "Header",
    "Style",
    "Text",
    "Image",
    "HyperText",
    "Paragraphs",
    "Table",
    "Label",
    "Choice",
    "Filter",
    "Collapse",
    "Markdown",
    "Char",
];

/// The control tags Tessera keeps, and the schema kind of each.
const CONTROLS: &[(&str, &str)] = &[
    ("Choices", "classification"),
    ("Labels", "spans"),
    ("RectangleLabels", "boxes"),
    ("TextArea", "text"),
    ("Rating", "rating"),
    ("Pairwise", "pairwise"),
];

/// Reads a Label Studio labeling config into a schema (with Tessera's defaults for what
/// the config does not say: overlap, gold and the rest).
pub fn schema_from_label_config(xml: &str) -> Result<LabelSchema, LabelConfigError> {
    let doc = Document::parse(xml).map_err(|e| LabelConfigError::NotXml(e.to_string()))?;
    let mut controls = Vec::new();
    let mut headers = Vec::new();
    for node in doc.descendants().filter(Node::is_element) {
        let tag = node.tag_name().name();
        if let Some((_, kind)) = CONTROLS.iter().find(|(t, _)| *t == tag) {
            controls.push((node, *kind));
        } else if tag == "Header" {
            if let Some(text) = node.attribute("value").or_else(|| node.text()) {
                let text = text.trim();
                if !text.is_empty() {
                    headers.push(text.to_owned());
                }
            }
        } else if !LAYOUT.contains(&tag) {
            return Err(LabelConfigError::Unsupported(tag.to_owned()));
        }
    }
    let (node, kind) = match controls.as_slice() {
        [] => return Err(LabelConfigError::NoControl),
        [one] => *one,
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|(n, _)| {
                    format!(
                        "<{} name={:?}>",
                        n.tag_name().name(),
                        n.attribute("name").unwrap_or("")
                    )
                })
                .collect();
            return Err(LabelConfigError::SeveralControls(names.join(" and ")));
        }
    };
    let tag = node.tag_name().name();
    let invalid = |message: String| LabelConfigError::Invalid {
        tag: tag.to_owned(),
        name: node.attribute("name").unwrap_or("").to_owned(),
        message,
    };
    let values = |child: &str| -> Vec<String> {
        node.descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == child)
            .filter_map(|n| n.attribute("value").or_else(|| n.attribute("alias")))
            .map(str::to_owned)
            .collect()
    };
    let labels: Vec<String> = match tag {
        "Choices" => values("Choice"),
        "Labels" | "RectangleLabels" => values("Label"),
        "TextArea" => Vec::new(),
        "Rating" => {
            let points: u32 = node
                .attribute("maxRating")
                .unwrap_or("5")
                .parse()
                .map_err(|_| invalid("maxRating must be a whole number".to_owned()))?;
            (1..=points).map(|p| p.to_string()).collect()
        }
        // Label Studio's pairwise result says which side won: left (A) or right (B).
        _ => vec!["A".to_owned(), "B".to_owned()],
    };
    let multiple = tag == "Choices" && node.attribute("choice") == Some("multiple");
    let mut schema = json!({ "kind": kind, "labels": labels, "multiple": multiple });
    if !headers.is_empty() {
        schema["instructions"] = json!(headers.join("\n"));
    }
    LabelSchema::from_json(&schema.to_string()).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SchemaKind;

    #[test]
    fn each_control_becomes_its_kind() {
        let cases = [
            (
                r#"<View><Text name="t" value="$text"/><Choices name="s" toName="t" choice="multiple"><Choice value="pos"/><Choice value="neg"/></Choices></View>"#,
                SchemaKind::Classification,
                vec!["pos", "neg"],
            ),
            (
                r#"<View><Labels name="ner" toName="t"><Label value="PER"/><Label value="ORG"/></Labels><Text name="t" value="$text"/></View>"#,
                SchemaKind::Spans,
                vec!["PER", "ORG"],
            ),
            (
                r#"<View><Image name="i" value="$image"/><RectangleLabels name="b" toName="i"><Label value="car"/><Label value="dog"/></RectangleLabels></View>"#,
                SchemaKind::Boxes,
                vec!["car", "dog"],
            ),
            (
                r#"<View><Text name="t" value="$text"/><Rating name="r" toName="t" maxRating="3"/></View>"#,
                SchemaKind::Rating,
                vec!["1", "2", "3"],
            ),
            (
                r#"<View><TextArea name="tr" toName="a"/><Text name="a" value="$text"/></View>"#,
                SchemaKind::Text,
                vec![],
            ),
            (
                r#"<View><Pairwise name="p" toName="a,b"/><Text name="a" value="$a"/><Text name="b" value="$b"/></View>"#,
                SchemaKind::Pairwise,
                vec!["A", "B"],
            ),
        ];
        for (xml, kind, labels) in cases {
            let schema = schema_from_label_config(xml).expect(xml);
            assert_eq!(schema.kind, kind, "{xml}");
            assert_eq!(schema.labels, labels, "{xml}");
        }
        let multiple = schema_from_label_config(cases_first()).expect("multiple");
        assert!(multiple.multiple);
    }

    fn cases_first() -> &'static str {
        r#"<View><Header value="Pick every mood"/><Text name="t" value="$text"/><Choices name="s" toName="t" choice="multiple"><Choice value="pos"/><Choice value="neg"/></Choices></View>"#
    }

    #[test]
    fn headers_become_instructions() {
        let schema = schema_from_label_config(cases_first()).expect("schema");
        assert_eq!(schema.instructions.as_deref(), Some("Pick every mood"));
    }

    #[test]
    fn what_cannot_be_kept_is_refused_by_name() {
        let polygon = r#"<View><Image name="i" value="$image"/><PolygonLabels name="p" toName="i"><Label value="x"/></PolygonLabels></View>"#;
        let e = schema_from_label_config(polygon).expect_err("polygon");
        assert!(e.to_string().contains("<PolygonLabels>"), "{e}");
        let two = r#"<View><Text name="t" value="$text"/><Choices name="a" toName="t"><Choice value="x"/><Choice value="y"/></Choices><TextArea name="why" toName="t"/></View>"#;
        let e = schema_from_label_config(two).expect_err("two controls");
        assert!(
            e.to_string()
                .contains("<Choices name=\"a\"> and <TextArea name=\"why\">"),
            "{e}"
        );
        let e = schema_from_label_config("<View><Text name=\"t\" value=\"$text\"/></View>")
            .expect_err("none");
        assert_eq!(e, LabelConfigError::NoControl);
        let e = schema_from_label_config("<View><Choices").expect_err("not xml");
        assert!(matches!(e, LabelConfigError::NotXml(_)), "{e}");
        let one = r#"<View><Choices name="c" toName="t"><Choice value="only"/></Choices></View>"#;
        let e = schema_from_label_config(one).expect_err("one label");
        assert!(e.to_string().contains("<Choices name=\"c\">"), "{e}");
    }
}
