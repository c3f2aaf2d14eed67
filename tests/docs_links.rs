//! The README and docs/ hold together: every page in docs/ is linked from the README, every
//! relative link points at a file that exists, and every `#anchor` at a heading of its page
//! (GitHub's slugs). Markdown is read by pulldown-cmark, so links in code are not links.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

fn repo() -> PathBuf {
    tessera_tests::manifest_dir().join("..")
}

fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    pages.push(repo().join("README.md"));
    pages
}

/// The link targets of a page, and its headings' anchors.
fn read(page: &Path) -> (Vec<String>, BTreeSet<String>) {
    let text = std::fs::read_to_string(page).expect("page is readable");
    let (mut links, mut anchors) = (Vec::new(), BTreeSet::new());
    let mut heading: Option<String> = None;
    for event in Parser::new(&text) {
        match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                links.push(dest_url.to_string());
            }
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(h) = heading.take() {
                    anchors.insert(slug(&h));
                }
            }
            _ => {}
        }
    }
    (links, anchors)
}

/// GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        let (links, own_anchors) = read(&page);
        for link in links {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("page dir").join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", page.display()));
                continue;
            }
            if !anchor.is_empty() {
                let anchors = if file.is_empty() {
                    own_anchors.clone()
                } else {
                    read(&target).1
                };
                if !anchors.contains(anchor) {
                    broken.push(format!("{}: {link} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_links_every_docs_page_and_stays_short() {
    let readme = repo().join("README.md");
    let (links, _) = read(&readme);
    let linked: BTreeSet<String> = links
        .iter()
        .filter_map(|l| l.strip_prefix("docs/"))
        .map(|l| l.split('#').next().unwrap_or(l).to_owned())
        .collect();
    let unlinked: Vec<String> = pages()
        .iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("docs")))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|name| !linked.contains(name))
        .collect();
    assert!(
        unlinked.is_empty(),
        "docs pages the README does not link: {unlinked:?}"
    );
    for wanted in [
        "cli.md",
        "api.md",
        "formats.md",
        "consensus.md",
        "performance.md",
        "architecture.md",
        "operations.md",
        "security.md",
    ] {
        assert!(
            linked.contains(wanted),
            "the README does not link docs/{wanted}"
        );
    }
    let lines = std::fs::read_to_string(&readme)
        .expect("README")
        .lines()
        .count();
    assert!(lines <= 250, "the README has {lines} lines (at most 250)");
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug("Upload and export"), "upload-and-export");
    assert_eq!(slug("How `auto` decides"), "how-auto-decides");
    assert_eq!(
        slug("Working as an annotator from a terminal"),
        "working-as-an-annotator-from-a-terminal"
    );
}
