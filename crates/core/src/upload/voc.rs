//! Pascal VOC XML: one `<annotation>` file per image, naming it (`filename`), giving its
//! `size`, and its objects, each a `name` and a `bndbox` in pixels (`xmin`, `ymin`, `xmax`,
//! `ymax`). Each file is a boxes task, its objects' boxes an answer by the imported annotator
//! `voc`. An object's `difficult`, `truncated`, `occluded` and `pose` flags are not kept and
//! are counted; its `part`s, `actions` and `attributes` neither; an object outlined another way (a polygon) cannot be kept.

use super::dataset::{Dataset, file_name, image_task, report_unread, require_boxes};
use super::task_object::Reading;
use super::{UploadError, UploadReport, err};
use crate::bbox::BoundingBox;
use crate::schema::LabelSchema;
use crate::task::TaskInput;

/// The annotator a VOC set's boxes are imported as.
pub const VOC_ANNOTATOR: &str = "voc";

/// Whether an XML text is a VOC annotation: its root is `<annotation>` (or, when it does not
/// parse, it opens one — so a broken file is refused as the VOC file it is meant to be).
pub fn is_voc(text: &str) -> bool {
    match roxmltree::Document::parse(text) {
        Ok(doc) => doc.root_element().has_tag_name("annotation"),
        Err(_) => text.contains("<annotation"),
    }
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| c.has_tag_name(tag))
}

fn text_of(node: roxmltree::Node<'_, '_>, tag: &str) -> Option<String> {
    child(node, tag)
        .and_then(|c| c.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// The 1-based line a node starts on.
fn line_of(doc: &roxmltree::Document<'_>, node: roxmltree::Node<'_, '_>) -> usize {
    doc.text_pos_at(node.range().start).row as usize
}

pub(super) fn parse(
    dataset: &Dataset,
    files: &[&String],
    schema: &LabelSchema,
    lenient: bool,
) -> Result<(Vec<TaskInput>, UploadReport), UploadError> {
    require_boxes(schema, "Pascal VOC")?;
    let mut cx = Reading::new(lenient);
    report_unread(
        &mut cx.report,
        dataset.texts.keys().filter(|p| !files.contains(p)),
    );
    let mut tasks = Vec::with_capacity(files.len());
    for path in files {
        let text = &dataset.texts[*path];
        tasks.push(file(dataset, path, text, schema, &mut cx)?);
    }
    Ok((tasks, cx.report))
}

/// The image a VOC file names: the dataset's image of that file name when it holds one,
/// else the name as the file gives it.
fn image_path(dataset: &Dataset, name: &str) -> String {
    let mut same_name = dataset.images.keys().filter(|p| file_name(p) == name);
    match (same_name.next(), same_name.next()) {
        (Some(only), None) => only.clone(),
        _ => name.to_owned(),
    }
}

fn file(
    dataset: &Dataset,
    path: &str,
    text: &str,
    schema: &LabelSchema,
    cx: &mut Reading,
) -> Result<TaskInput, UploadError> {
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        let pos = e.pos();
        err(
            pos.row as usize,
            Some(pos.col as usize),
            format!("{path}: {e}"),
        )
    })?;
    let root = doc.root_element();
    let fail = |node, message: String| err(line_of(&doc, node), None, format!("{path}: {message}"));
    let name = text_of(root, "filename")
        .or_else(|| text_of(root, "path").map(|p| file_name(&p.replace('\\', "/")).to_owned()))
        .ok_or_else(|| fail(root, "no <filename>".to_owned()))?;
    let image = image_path(dataset, &name);
    let pixels = |node, tag| {
        text_of(node, tag)
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|v| v.is_finite())
    };
    let given = child(root, "size").and_then(|s| {
        let (w, h) = (pixels(s, "width")?, pixels(s, "height")?);
        (w >= 1.0 && h >= 1.0).then_some([w as u32, h as u32])
    });
    let size = given.or_else(|| dataset.images.get(&image).copied().flatten());
    let mut labels = Vec::new();
    for (n, object) in root
        .children()
        .filter(|c| c.has_tag_name("object"))
        .enumerate()
    {
        cx.line = line_of(&doc, object);
        let item = format!("{path}: object[{n}]");
        let read = (|| -> Result<String, String> {
            let label = text_of(object, "name").ok_or("no <name>")?;
            let Some(bndbox) = child(object, "bndbox") else {
                let other = object
                    .children()
                    .filter(|c| c.is_element())
                    .map(|c| c.tag_name().name())
                    .find(|t| ["polygon", "point", "keypoints", "segmentation"].contains(t));
                return Err(match other {
                    Some(kind) => format!("a <{kind}> cannot be kept (boxes are rectangles)"),
                    None => "no <bndbox>".to_owned(),
                });
            };
            let [w, h] = size.ok_or("the image's size is not given (no <size>), and the dataset does not hold the image")?;
            let corner = |tag| pixels(bndbox, tag).ok_or(format!("no number in <{tag}>"));
            let (x0, y0, x1, y1) = (
                corner("xmin")?,
                corner("ymin")?,
                corner("xmax")?,
                corner("ymax")?,
            );
            let (w, h) = (f64::from(w), f64::from(h));
            let (b, cut) =
                BoundingBox::within_image(x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h, &label)
                    .ok_or(format!(
                        "box {x0},{y0} to {x1},{y1} lies outside the {w} by {h} image"
                    ))?;
            let labels = vec![b.to_string()];
            schema.check_answer(&labels).map_err(|e| e.to_string())?;
            if cut {
                cx.report.clamped_boxes += 1;
            }
            for flag in ["difficult", "truncated", "occluded", "pose"] {
                if text_of(object, flag).is_some_and(|v| v != "0" && v != "Unspecified") {
                    cx.report.ignore(&format!("object.{flag}"));
                }
            }
            for kept_not in ["part", "actions", "attributes"] {
                if child(object, kept_not).is_some() {
                    cx.report.ignore(&format!("object.{kept_not}"));
                }
            }
            Ok(labels.into_iter().next().unwrap_or_default())
        })();
        match read {
            Ok(b) => labels.push(b),
            Err(reason) if cx.leave_out(item.clone(), &reason) => {}
            Err(reason) => return Err(fail(object, format!("object[{n}]: {reason}"))),
        }
    }
    image_task(&image, size, VOC_ANNOTATOR, labels, schema).map_err(|m| fail(root, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> LabelSchema {
        LabelSchema::from_json(r#"{"kind": "boxes", "labels": ["cat", "dog"]}"#).expect("schema")
    }

    const XML: &str = "<annotation>\n  <folder>VOC</folder>\n  <filename>a.jpg</filename>\n  <size><width>200</width><height>100</height><depth>3</depth></size>\n  <object>\n    <name>dog</name><difficult>1</difficult>\n    <bndbox><xmin>20</xmin><ymin>10</ymin><xmax>120</xmax><ymax>60</ymax></bndbox>\n  </object>\n  <object>\n    <name>cow</name>\n    <bndbox><xmin>0</xmin><ymin>0</ymin><xmax>10</xmax><ymax>10</ymax></bndbox>\n  </object>\n</annotation>\n";

    #[test]
    fn each_file_is_a_task_its_objects_an_answer() {
        let mut ds = Dataset::new();
        ds.add_text("Annotations/a.xml", XML.replace("cow", "cat"));
        ds.add_image("JPEGImages/a.jpg", None);
        let files: Vec<&String> = ds.texts.keys().collect();
        let (tasks, report) = parse(&ds, &files, &schema(), false).expect("voc");
        assert_eq!(tasks[0].data["image"], "JPEGImages/a.jpg");
        assert_eq!(tasks[0].image_size, Some([200, 100]));
        assert_eq!(
            tasks[0].answers[0].labels,
            ["0.1,0.1,0.5,0.5:dog", "0,0,0.05,0.1:cat"]
        );
        assert_eq!(report.ignored_keys.get("object.difficult"), Some(&1));
    }

    #[test]
    fn an_unknown_label_is_refused_at_its_line_or_left_out() {
        let mut ds = Dataset::new();
        ds.add_text("a.xml", XML.to_owned());
        let files: Vec<&String> = ds.texts.keys().collect();
        let e = parse(&ds, &files, &schema(), false).expect_err("cow");
        assert_eq!(e.line, 9, "{e}");
        assert!(
            e.message.contains("a.xml: object[1]") && e.message.contains("cow"),
            "{e}"
        );
        let (tasks, report) = parse(&ds, &files, &schema(), true).expect("lenient");
        assert_eq!(tasks[0].answers[0].labels.len(), 1);
        assert_eq!(report.left_out[0].item, "a.xml: object[1]");
        ds.add_text("a.xml", "<annotation><filename>a</filename>".to_owned());
        let files: Vec<&String> = ds.texts.keys().collect();
        let e = parse(&ds, &files, &schema(), false).expect_err("broken XML");
        assert!(e.column.is_some(), "{e}");
    }
}
