//! `tessera upload PROJECT FOLDER`: a dataset folder — a YOLO set, Pascal VOC files, or a
//! COCO file beside its images — is read here with the readers the server uses for a zip,
//! and goes up as Tessera JSONL: a dataset of any size uploads without packing its images,
//! whose sizes are read from their headers.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use tessera_core::LabelSchema;
use tessera_core::upload::{Dataset, IMAGE_HEAD_BYTES, UploadReport, parse_dataset, task_line};

/// The files of a folder, by their path inside it; hidden files and folders are skipped.
pub fn read_folder(root: &Path) -> Result<Dataset> {
    let mut dataset = Dataset::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let inside = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if Dataset::is_image(&inside) {
                let mut head = Vec::new();
                std::fs::File::open(&path)
                    .with_context(|| format!("opening {}", path.display()))?
                    .take(IMAGE_HEAD_BYTES)
                    .read_to_end(&mut head)?;
                dataset.add_image(&inside, Dataset::image_size(&head));
            } else if Dataset::is_text(&inside) {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                dataset.add_text(&inside, text);
            } else {
                dataset.add_other(&inside);
            }
        }
    }
    Ok(dataset)
}

/// A folder's tasks, read against the project's schema, as Tessera JSONL, and what the read
/// kept without refusing.
pub fn folder_jsonl(
    root: &Path,
    schema: &LabelSchema,
    lenient: bool,
) -> Result<(Vec<u8>, UploadReport, usize)> {
    let dataset = read_folder(root)?;
    let parsed = parse_dataset(&dataset, schema, lenient)
        .map_err(|e| anyhow::anyhow!("{}: {e}", root.display()))?;
    let mut body = Vec::new();
    for (i, task) in parsed.tasks.iter().enumerate() {
        serde_json::to_writer(&mut body, &task_line(task, i + 1))?;
        body.push(b'\n');
    }
    Ok((body, parsed.report, parsed.tasks.len()))
}
