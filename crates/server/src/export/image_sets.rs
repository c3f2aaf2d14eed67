//! Boxes projects as the image-set formats training pipelines read, in one zip streamed a
//! page at a time: YOLO (`classes.txt`, `data.yaml`, and `labels/<image>.txt` per task, a box
//! a line, `class x_center y_center width height` in shares of the image) and Pascal VOC
//! (`Annotations/<image>.xml` per task, boxes in pixels). The images are not in the zip: a
//! task names its image, and the label file mirrors that name (`images/train/a.jpg` gives
//! `labels/train/a.txt`).

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};

use tessera_api::ExportRecord;
use tessera_core::{BoundingBox, LabelSchema};
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

/// The bytes the zip has written since they were last taken.
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<Vec<u8>>>);

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SetKind {
    Yolo,
    Voc,
}

/// A zip of label files, written as it goes.
pub struct ImageSet {
    kind: SetKind,
    zip: ZipWriter<StreamWriter<Pending>>,
    pending: Pending,
    /// Names given so far: two tasks naming images alike get names of their own.
    names: HashSet<String>,
}

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

/// An image reference as a path inside the zip, without its extension: a URL's path, `..`
/// and empty parts dropped, the first `images` folder left out.
pub fn image_stem(image: &str) -> String {
    let path = image.split(['?', '#']).next().unwrap_or(image);
    let path = match path.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => path,
    };
    let mut parts: Vec<&str> = path
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect();
    if let Some(i) = parts.iter().position(|p| *p == "images") {
        parts.remove(i);
    }
    let joined = parts.join("/");
    match joined.rfind('.') {
        Some(dot) if !joined[dot..].contains('/') && dot > 0 => joined[..dot].to_owned(),
        _ if joined.is_empty() => "image".to_owned(),
        _ => joined,
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl ImageSet {
    pub fn new(kind: SetKind, schema: &LabelSchema) -> Result<Self, zip::result::ZipError> {
        let pending = Pending::default();
        let mut zip = ZipWriter::new_stream(pending.clone());
        if kind == SetKind::Yolo {
            zip.start_file("classes.txt", options())?;
            for label in &schema.labels {
                writeln!(zip, "{label}")?;
            }
            zip.start_file("data.yaml", options())?;
            writeln!(zip, "path: .\ntrain: images\nval: images\nnames:")?;
            for (i, label) in schema.labels.iter().enumerate() {
                // A quoted YAML string: JSON's quoting is YAML's.
                writeln!(zip, "  {i}: {}", serde_json::Value::from(label.as_str()))?;
            }
        }
        Ok(Self {
            kind,
            zip,
            pending,
            names: HashSet::new(),
        })
    }

    /// What the zip wrote since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        self.pending
            .0
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }

    fn name_for(&mut self, r: &ExportRecord, folder: &str, extension: &str) -> String {
        let image = r.data.get("image").and_then(|v| v.as_str()).unwrap_or("");
        let stem = image_stem(image);
        let mut name = format!("{folder}/{stem}.{extension}");
        if !self.names.insert(name.clone()) {
            name = format!("{folder}/{stem}-{}.{extension}", r.task_id);
            self.names.insert(name.clone());
        }
        name
    }

    /// A label file for each of `records`, with `labels(r)` its boxes.
    pub fn page(
        &mut self,
        schema: &LabelSchema,
        records: &[ExportRecord],
        labels: impl Fn(&ExportRecord) -> &[String],
    ) -> Result<Vec<u8>, zip::result::ZipError> {
        for r in records {
            let boxes: Vec<BoundingBox> = labels(r)
                .iter()
                .filter_map(|b| BoundingBox::parse(b))
                .collect();
            match self.kind {
                SetKind::Yolo => {
                    let name = self.name_for(r, "labels", "txt");
                    self.zip.start_file(name, options())?;
                    for b in &boxes {
                        if let Some(class) = schema.labels.iter().position(|l| *l == b.label) {
                            writeln!(
                                self.zip,
                                "{class} {} {} {} {}",
                                b.x + b.w / 2.0,
                                b.y + b.h / 2.0,
                                b.w,
                                b.h
                            )?;
                        }
                    }
                }
                SetKind::Voc => {
                    let name = self.name_for(r, "Annotations", "xml");
                    let xml = voc_xml(r, &boxes);
                    self.zip.start_file(name, options())?;
                    self.zip.write_all(xml.as_bytes())?;
                }
            }
        }
        Ok(self.take())
    }

    /// The zip's end (its central directory).
    pub fn finish(self) -> Result<Vec<u8>, zip::result::ZipError> {
        let pending = self.pending.clone();
        self.zip.finish()?;
        Ok(pending
            .0
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default())
    }
}

/// A task as a Pascal VOC annotation: its image's name, size and boxes in pixels.
fn voc_xml(r: &ExportRecord, boxes: &[BoundingBox]) -> String {
    let image = r.data.get("image").and_then(|v| v.as_str()).unwrap_or("");
    let file = image.rsplit(['/', '\\']).next().unwrap_or(image);
    let [w, h] = r.image_size.unwrap_or([0, 0]);
    let mut xml = format!(
        "<annotation>\n  <folder>images</folder>\n  <filename>{}</filename>\n  <path>{}</path>\n  <source><database>Tessera</database></source>\n  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>\n  <segmented>0</segmented>\n",
        escape(file),
        escape(image)
    );
    let (w, h) = (f64::from(w), f64::from(h));
    for b in boxes {
        xml.push_str(&format!(
            "  <object>\n    <name>{}</name>\n    <pose>Unspecified</pose>\n    <truncated>0</truncated>\n    <difficult>0</difficult>\n    <bndbox><xmin>{}</xmin><ymin>{}</ymin><xmax>{}</xmax><ymax>{}</ymax></bndbox>\n  </object>\n",
            escape(&b.label),
            b.x * w,
            b.y * h,
            (b.x + b.w) * w,
            (b.y + b.h) * h
        ));
    }
    xml.push_str("</annotation>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_files_mirror_the_image_path() {
        assert_eq!(image_stem("images/train/a.jpg"), "train/a");
        assert_eq!(
            image_stem("https://cdn.example/x/images/b.png?sig=1"),
            "x/b"
        );
        assert_eq!(image_stem("../../etc/passwd"), "etc/passwd");
        assert_eq!(image_stem("/data/upload/3/c.d.jpeg"), "data/upload/3/c.d");
        assert_eq!(image_stem(""), "image");
    }
}
