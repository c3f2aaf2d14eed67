//! A labeled dataset of many files — a folder or a zip, as YOLO and Pascal VOC sets come, and
//! as Label Studio exports COCO (a JSON file beside its images) — read into tasks. Images are
//! known by their path and, when their header could be read, their size; nothing else of
//! them is kept (a task names its image; the requester serves it).

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::Map;

use super::{Parsed, UploadError, UploadFormat, UploadReport, err, voc, yolo};
use crate::schema::{LabelSchema, SchemaKind};
use crate::task::{ImportedAnswer, TaskInput, check_data};

/// Extensions of the images a dataset may hold.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp", "gif", "webp", "tif", "tiff"];

/// Extensions of the text files a dataset's labels come in.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt", "xml", "yaml", "yml", "names", "json", "jsonl", "ndjson", "csv", "tsv", "conll",
];

/// How much of an image is read for its size: headers sit at the start of the file.
pub const IMAGE_HEAD_BYTES: u64 = 512 << 10;

/// A dataset's files, by their path inside it (`/`-separated).
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Label files, class lists, VOC XML, JSON: their text.
    pub(super) texts: BTreeMap<String, String>,
    /// Images, with their width and height when known.
    pub(super) images: BTreeMap<String, Option<[u32; 2]>>,
    /// Files of neither kind: not read, listed in the report.
    pub(super) others: Vec<String>,
}

fn extension(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// `a/b/c.txt` → `a/b/c`.
pub(super) fn stem_path(path: &str) -> &str {
    match path.rfind('.') {
        Some(dot) if !path[dot..].contains('/') => &path[..dot],
        _ => path,
    }
}

/// The file name of a path.
pub(super) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Refuses a project that does not hold boxes: `what` (a YOLO set, VOC files) holds them.
pub(super) fn require_boxes(schema: &LabelSchema, what: &str) -> Result<(), UploadError> {
    if schema.kind == SchemaKind::Boxes {
        Ok(())
    } else {
        Err(err(
            1,
            None,
            format!("{what} holds boxes: upload it to a boxes project"),
        ))
    }
}

/// A boxes task for `image` (also its external id), with its size when known and `labels`
/// (its boxes) the answer of the imported annotator `annotator`.
pub(super) fn image_task(
    image: &str,
    size: Option<[u32; 2]>,
    annotator: &str,
    labels: Vec<String>,
    schema: &LabelSchema,
) -> Result<TaskInput, String> {
    let mut data = Map::new();
    data.insert("image".to_owned(), image.into());
    check_data(&data, schema.kind)?;
    Ok(TaskInput {
        external_id: Some(image.to_owned()),
        data,
        answers: vec![ImportedAnswer {
            annotator: annotator.to_owned(),
            labels,
            skipped: false,
            answered_at: None,
            unsure: false,
        }],
        image_size: size,
        ..TaskInput::default()
    })
}

/// Text files a reader did not use (a VOC set's `ImageSets` lists, a README), counted in the
/// report by folder.
pub(super) fn report_unread<'a>(
    report: &mut UploadReport,
    paths: impl Iterator<Item = &'a String>,
) {
    for path in paths {
        let folder = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        report.ignore(&format!("files not read in {folder}/"));
    }
}

impl Dataset {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a file is an image, by its extension.
    pub fn is_image(path: &str) -> bool {
        IMAGE_EXTENSIONS.contains(&extension(path).as_str())
    }

    /// Whether a file may hold labels, by its extension.
    pub fn is_text(path: &str) -> bool {
        TEXT_EXTENSIONS.contains(&extension(path).as_str())
    }

    pub fn add_text(&mut self, path: &str, text: String) {
        self.texts.insert(path.to_owned(), text);
    }

    pub fn add_image(&mut self, path: &str, size: Option<[u32; 2]>) {
        self.images.insert(path.to_owned(), size);
    }

    pub fn add_other(&mut self, path: &str) {
        self.others.push(path.to_owned());
    }

    /// The size of an image from its first bytes ([`IMAGE_HEAD_BYTES`] are enough).
    pub fn image_size(head: &[u8]) -> Option<[u32; 2]> {
        let size = imagesize::blob_size(head).ok()?;
        Some([
            u32::try_from(size.width).ok()?,
            u32::try_from(size.height).ok()?,
        ])
    }

    /// Whether a dataset holds no file that could give a task.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty() && self.images.is_empty()
    }

    /// A zip's files: its text files read whole (together at most `cap` bytes, so a small
    /// archive cannot unpack into the server's memory), its images only as far as their size.
    /// macOS's `__MACOSX/` shadows and hidden files are skipped.
    pub fn from_zip(bytes: &[u8], cap: u64) -> Result<Self, UploadError> {
        let bad = |e: zip::result::ZipError| err(1, None, format!("not a readable zip: {e}"));
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(bad)?;
        let mut out = Self::new();
        let mut text_bytes = 0u64;
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).map_err(bad)?;
            if file.is_dir() {
                continue;
            }
            let Some(path) = file
                .enclosed_name()
                .and_then(|p| p.to_str().map(|p| p.replace('\\', "/")))
            else {
                return Err(err(
                    1,
                    None,
                    format!("the zip names a file outside itself: {:?}", file.name()),
                ));
            };
            if path.starts_with("__MACOSX/") || path.split('/').any(|part| part.starts_with('.')) {
                continue;
            }
            if Self::is_image(&path) {
                let mut head = Vec::new();
                (&mut file)
                    .take(IMAGE_HEAD_BYTES)
                    .read_to_end(&mut head)
                    .map_err(|e| err(1, None, format!("{path}: {e}")))?;
                out.add_image(&path, Self::image_size(&head));
            } else if Self::is_text(&path) {
                let mut raw = Vec::new();
                (&mut file)
                    .take(cap.saturating_sub(text_bytes) + 1)
                    .read_to_end(&mut raw)
                    .map_err(|e| err(1, None, format!("{path}: {e}")))?;
                text_bytes += raw.len() as u64;
                if text_bytes > cap {
                    return Err(err(
                        1,
                        None,
                        format!("the zip's label files unpack to more than {cap} bytes; split it"),
                    ));
                }
                let text = String::from_utf8(raw)
                    .map_err(|_| err(1, None, format!("{path}: invalid UTF-8")))?;
                out.add_text(&path, text);
            } else {
                out.add_other(&path);
            }
        }
        Ok(out)
    }
}

/// Reads a dataset: Pascal VOC XML files, a YOLO set (label files and a class list), or one
/// file of another format (a COCO JSON beside its images, a JSONL or CSV file), which is read
/// as that format.
pub fn parse_dataset(
    dataset: &Dataset,
    schema: &LabelSchema,
    lenient: bool,
) -> Result<Parsed<TaskInput>, UploadError> {
    let voc_files: Vec<&String> = dataset
        .texts
        .iter()
        .filter(|(path, text)| {
            (extension(path) == "xml" || *path == "the VOC file") && voc::is_voc(text)
        })
        .map(|(path, _)| path)
        .collect();
    let yolo = yolo::class_list(dataset).map_err(|m| err(1, None, m))?;
    let (mut tasks, mut report) = match (voc_files.is_empty(), yolo) {
        (false, Some(_)) => {
            return Err(err(
                1,
                None,
                "the dataset holds both Pascal VOC files and a YOLO class list: upload one at a time",
            ));
        }
        (false, None) => voc::parse(dataset, &voc_files, schema, lenient)?,
        (true, Some(classes)) => yolo::parse(dataset, &classes, schema, lenient)?,
        (true, None) => one_file(dataset, schema, lenient)?,
    };
    for other in &dataset.others {
        report.ignore(&format!("file {other}"));
    }
    if tasks.is_empty() {
        return Err(err(1, None, "the dataset holds no tasks"));
    }
    tasks.shrink_to_fit();
    Ok(Parsed { tasks, report })
}

/// A dataset holding one file of another format (and perhaps its images).
fn one_file(
    dataset: &Dataset,
    schema: &LabelSchema,
    lenient: bool,
) -> Result<(Vec<TaskInput>, UploadReport), UploadError> {
    let readable: Vec<(&String, &String, UploadFormat)> = dataset
        .texts
        .iter()
        .filter_map(|(path, text)| {
            let format = UploadFormat::from_file_name(path)?;
            (format.reads_alone()).then_some((path, text, format))
        })
        .collect();
    let [(path, text, format)] = readable[..] else {
        let names: Vec<&str> = readable.iter().map(|(p, _, _)| p.as_str()).collect();
        return Err(err(
            1,
            None,
            if names.is_empty() {
                "the dataset holds no labels: Pascal VOC XML files, a YOLO set (label files and classes.txt, obj.names or data.yaml), or one JSON, JSONL, CSV, TSV or CoNLL file".to_owned()
            } else {
                format!(
                    "the dataset holds several files to read ({}): upload one at a time",
                    names.join(", ")
                )
            },
        ));
    };
    let mut parsed =
        super::parse_upload_with::<TaskInput>(text.as_bytes(), format, schema, lenient).map_err(
            |mut e| {
                e.message = format!("{path}: {}", e.message);
                e
            },
        )?;
    // A COCO export beside its images: an image's size comes from the image when the file
    // lacks it.
    let base = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    for task in &mut parsed.tasks {
        if task.image_size.is_none()
            && let Some(image) = task.data.get("image").and_then(|v| v.as_str())
        {
            let joined = if base.is_empty() {
                image.to_owned()
            } else {
                format!("{base}/{image}")
            };
            task.image_size = [joined.as_str(), image]
                .iter()
                .find_map(|p| dataset.images.get(*p).copied().flatten());
        }
    }
    Ok((parsed.tasks, parsed.report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .expect("entry");
            w.write_all(bytes).expect("write");
        }
        w.finish().expect("zip").into_inner()
    }

    /// The smallest PNG header: signature, IHDR with width and height.
    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
        b.extend(b"IHDR");
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn a_zip_gives_its_texts_and_the_sizes_of_its_images() {
        let bytes = zip_of(&[
            ("set/images/a.png", &png(640, 480)),
            ("set/labels/a.txt", b"0 0.5 0.5 0.2 0.2\n"),
            ("__MACOSX/set/._a.png", b"junk"),
            ("set/.DS_Store", b"junk"),
            ("set/LICENSE", b"CC-BY"),
        ]);
        let ds = Dataset::from_zip(&bytes, 1 << 20).expect("zip");
        assert_eq!(ds.images["set/images/a.png"], Some([640, 480]));
        assert_eq!(ds.texts["set/labels/a.txt"], "0 0.5 0.5 0.2 0.2\n");
        assert_eq!(ds.others, ["set/LICENSE"]);
    }

    #[test]
    fn label_files_past_the_cap_are_refused() {
        let big = vec![b'0'; 2000];
        let bytes = zip_of(&[("a.txt", &big), ("b.txt", &big)]);
        let e = Dataset::from_zip(&bytes, 3000).expect_err("over the cap");
        assert!(e.message.contains("more than 3000 bytes"), "{e}");
        let e = Dataset::from_zip(b"PK\x03\x04 not really", 3000).expect_err("broken");
        assert!(e.message.contains("not a readable zip"), "{e}");
    }

    #[test]
    fn one_coco_file_beside_its_images_takes_their_sizes() {
        let schema =
            LabelSchema::from_json(r#"{"kind": "boxes", "labels": ["cat"]}"#).expect("schema");
        let coco = br#"{"images": [{"id": 1, "file_name": "images/a.png"}],
            "annotations": [], "categories": [{"id": 0, "name": "cat"}]}"#;
        let bytes = zip_of(&[
            ("out/result.json", coco),
            ("out/images/a.png", &png(32, 16)),
        ]);
        let ds = Dataset::from_zip(&bytes, 1 << 20).expect("zip");
        let parsed = parse_dataset(&ds, &schema, false).expect("coco in a zip");
        assert_eq!(parsed.tasks[0].image_size, Some([32, 16]));
        let e = parse_dataset(&Dataset::new(), &schema, false).expect_err("nothing");
        assert!(e.message.contains("holds no labels"), "{e}");
    }
}
