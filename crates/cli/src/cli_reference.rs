//! docs/cli.md ends with a reference of every command and flag, generated from this binary's own
//! parser (by the `clap-markdown` crate) so that it cannot drift from `tessera --help`. The test
//! here fails when the page and the parser disagree, naming what is missing;
//! `UPDATE_DOCS=1 cargo test -p tessera-cli cli_reference` rewrites the reference.

use std::path::PathBuf;

use clap::CommandFactory;

use crate::Cli;

/// The line after which docs/cli.md is generated.
const MARKER: &str = "<!-- Everything below is generated from the parser: UPDATE_DOCS=1 cargo test -p tessera-cli cli_reference -->";

/// docs/cli.md of the checkout being tested (cargo sets `CARGO_MANIFEST_DIR` at run time too;
/// a test binary from a cache built elsewhere must read this checkout's page).
fn page_path() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../../docs/cli.md")
}

/// The reference as clap-markdown renders it, its headings one level down so that it sits
/// under the page's own title, and no run of blank lines.
fn generated() -> String {
    let options = clap_markdown::MarkdownOptions::new()
        .title("Every command and flag".to_owned())
        .show_footer(false)
        .show_table_of_contents(true);
    let markdown = clap_markdown::help_markdown_custom::<Cli>(&options);
    let mut out = String::with_capacity(markdown.len() + 256);
    let mut blank_run = 0;
    for line in markdown.lines() {
        let line = line.trim_end();
        blank_run = if line.is_empty() { blank_run + 1 } else { 0 };
        if blank_run > 1 {
            continue;
        }
        // Titles go one level down; the sixth-level labels (**Options:**) have none below them.
        if line.starts_with('#') && !line.starts_with("######") {
            out.push('#');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every command path the parser knows (`["ml", "add"]`, …), with its long flags, help and
/// hidden ones left out.
fn commands() -> Vec<(Vec<String>, Vec<String>)> {
    fn walk(cmd: &clap::Command, path: &[String], out: &mut Vec<(Vec<String>, Vec<String>)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name() == "help" {
                continue;
            }
            let mut sub_path = path.to_vec();
            sub_path.push(sub.get_name().to_owned());
            let flags = sub
                .get_arguments()
                .filter(|a| !a.is_hide_set() && !a.is_global_set())
                .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
                .filter(|l| l != "--help" && l != "--version")
                .collect();
            out.push((sub_path.clone(), flags));
            walk(sub, &sub_path, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &[], &mut out);
    out
}

#[test]
fn docs_cli_md_lists_every_command_and_flag_as_the_parser_has_them() {
    let path = page_path();
    let page = std::fs::read_to_string(&path).expect("docs/cli.md is readable");
    let Some((guide, reference)) = page.split_once(MARKER) else {
        panic!("docs/cli.md lacks the marker line {MARKER}");
    };
    let want = generated();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{guide}{MARKER}\n\n{want}")).expect("docs/cli.md written");
        return;
    }

    // Name what is missing first: that is what a reader of the failure needs.
    let mut missing = Vec::new();
    for (path, flags) in commands() {
        let heading = format!("### `tessera {}`", path.join(" "));
        let Some(start) = reference.find(&format!("\n{heading}\n")) else {
            missing.push(format!("command `tessera {}`", path.join(" ")));
            continue;
        };
        let section = &reference[start + heading.len() + 1..];
        let section = &section[..section.find("\n### ").unwrap_or(section.len())];
        for flag in flags {
            if !section.contains(&format!("`{flag}")) {
                missing.push(format!("flag {flag} of `tessera {}`", path.join(" ")));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/cli.md is missing: {}. Run UPDATE_DOCS=1 cargo test -p tessera-cli cli_reference",
        missing.join(", ")
    );
    let have = reference.trim_start_matches('\n');
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        panic!(
            "docs/cli.md's reference differs from `tessera --help` from its line {} on. \
             Run UPDATE_DOCS=1 cargo test -p tessera-cli cli_reference",
            line + 1
        );
    }
}

#[test]
fn the_reference_names_commands_of_every_depth() {
    // Guards the walk above: a walk that found nothing would let any page pass.
    let all = commands();
    assert!(all.iter().any(|(p, _)| p == &["serve".to_owned()]));
    assert!(all.iter().any(
        |(p, f)| p == &["ml".to_owned(), "add".to_owned()] && f.contains(&"--name".to_owned())
    ));
    assert!(all.len() > 40, "{} commands", all.len());
}
