//! Every document the repository cites is in the repository.
//!
//! Comments and documents say where their facts come from. A citation of a document kept
//! outside the repository (a team share beside it, someone's notes) leaves a contributor who
//! cloned it with nothing to follow. This test reads the repository's source and
//! documentation files and fails, naming `file:line`, on a reference that resolves to no
//! file of the repository:
//!
//! - a path whose file name ends in `.md`, looked up from the repository root and from the
//!   citing file's directory (either may hold it);
//! - any path through the `shared` folder beside the repository, whatever its extension.
//!
//! A reference is a run of path characters (ASCII letters and digits, `_`, `-`, `.`, `/`),
//! trailing dots dropped. Not references: URLs (the run starts with `//`, as after
//! `https:`), build outputs under `target/`, and paths after a variable
//! (`$(TARGET_DIR)/x.md`, `${OUT}/x.md`). A reference that climbs out of the repository
//! never resolves, even if the file exists on this machine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

/// Directories read recursively, relative to the repository root.
const ROOTS: &[&str] = &["crates", "tests", "scripts", "infra", "docs", ".ci"];

/// Directory names never entered: build output, installed tools and dependencies.
const SKIP_DIRS: &[&str] = &["target", "node_modules", ".git", ".venv", ".tools", ".run"];

/// Files read, by extension (`relay.Dockerfile` counts as `Dockerfile`).
const EXTENSIONS: &[&str] = &[
    "rs",
    "md",
    "toml",
    "sh",
    "yaml",
    "yml",
    "mjs",
    "js",
    "html",
    "txt",
    "Dockerfile",
];

/// Files read whatever their extension: the Makefile, and scripts without one (`.ci/run`).
const NAMES: &[&str] = &["Makefile", "run"];

/// The folder beside the repository that citations must not reach into, built so that
/// this file does not cite it.
const SHARED: &str = concat!("..", "/shared/");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

fn is_read(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    NAMES.contains(&name) || EXTENSIONS.contains(&extension)
}

/// Every file to read, as paths relative to `root`, sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending: Vec<PathBuf> = ROOTS.iter().map(PathBuf::from).collect();
    for entry in fs::read_dir(root).unwrap() {
        let entry = entry.unwrap();
        let relative = PathBuf::from(entry.file_name());
        if entry.file_type().unwrap().is_file() && is_read(&relative) {
            found.push(relative);
        }
    }
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(root.join(&dir)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let name = entry.file_name();
            let relative = dir.join(&name);
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                if !SKIP_DIRS.iter().any(|skip| name == *skip) {
                    pending.push(relative);
                }
            } else if kind.is_file() && is_read(&relative) {
                found.push(relative);
            }
        }
    }
    found.sort();
    found
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// The references to documents in one line of text.
fn references(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find(is_path_char) {
        // Runs are maximal, so the character before one is never a path character.
        let before = rest[..start].chars().last();
        let tail = &rest[start..];
        let end = tail.find(|c| !is_path_char(c)).unwrap_or(tail.len());
        let run = tail[..end].trim_end_matches('.');
        if is_reference(run, before) {
            found.push(run);
        }
        rest = &tail[end..];
    }
    found
}

fn is_reference(run: &str, before: Option<char>) -> bool {
    if run.starts_with("//") || run.starts_with("target/") || matches!(before, Some(')' | '}')) {
        return false;
    }
    let name = run.rsplit('/').next().unwrap_or_default();
    let markdown = name
        .strip_suffix(".md")
        .is_some_and(|stem| !stem.is_empty() && !stem.ends_with('.'));
    markdown || run.contains(SHARED)
}

/// Whether `reference`, cited by the file `citing` (relative to `root`), names a file of
/// the repository: from the root, or from the citing file's directory.
fn resolves(root: &Path, citing: &Path, reference: &str) -> bool {
    if reference.starts_with('/') {
        return false;
    }
    let bases = [Path::new(""), citing.parent().unwrap_or(Path::new(""))];
    bases.iter().any(|base| {
        let mut parts: Vec<String> = base
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        for part in reference.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        // Out of the repository.
                        return false;
                    }
                }
                _ => parts.push(part.to_owned()),
            }
        }
        !parts.is_empty() && root.join(parts.iter().collect::<PathBuf>()).is_file()
    })
}

/// `file:line: reference` for every reference in `text` (the file `citing`) that names no
/// file of the repository.
fn problems(root: &Path, citing: &Path, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for reference in references(line) {
            if !resolves(root, citing, reference) {
                found.push(format!(
                    "{}:{}: `{reference}` is not a file of the repository",
                    citing.display(),
                    index + 1
                ));
            }
        }
    }
    found
}

#[test]
fn every_cited_document_is_in_the_repository() {
    let root = repo_root();
    let files = files(&root);
    // A walk that found nothing would pass vacuously.
    for expected in [
        "README.md",
        "docs/connect-chat.md",
        "crates/core/src/lib.rs",
    ] {
        assert!(
            files.iter().any(|file| file == Path::new(expected)),
            "{expected} was not read; read: {files:?}"
        );
    }
    let mut found = Vec::new();
    for file in &files {
        // Binary or non-UTF-8 files cite nothing we could follow anyway.
        let Ok(text) = fs::read_to_string(root.join(file)) else {
            continue;
        };
        found.extend(problems(&root, file, &text));
    }
    assert!(
        found.is_empty(),
        "{} reference(s) to documents that are not in the repository (put the facts in \
         docs/ and cite that):\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn a_citation_of_a_document_outside_the_repository_is_reported() {
    let root = repo_root();
    let citing = Path::new("crates/relay/src/rate.rs");
    let protocol = concat!("connect-chat-protocol", ".md");
    let local_stack = concat!("..", "/shared/", "LOCAL-STACK", ".md");
    let text = format!(
        "//! Quotas (docs/connect-chat.md §6.4).\n\
         //! Burst 9 ({protocol} §6.4), measured ({local_stack}).\n"
    );
    assert_eq!(
        problems(&root, citing, &text),
        [
            format!("crates/relay/src/rate.rs:2: `{protocol}` is not a file of the repository"),
            format!("crates/relay/src/rate.rs:2: `{local_stack}` is not a file of the repository"),
        ]
    );
}

// The examples below spell their references in pieces (`concat!`) wherever this file, read
// by the test above, would otherwise cite a path that does not resolve from `tests/`.

#[test]
fn urls_build_outputs_and_existing_files_are_not_reported() {
    let root = repo_root();
    let design = concat!("../../ARCHITECTURE", ".md");
    let text = format!(
        "See https://github.com/o/r/blob/HEAD/docs/NOTES.md and CHANGELOG.md.\n\
         Writes target/relay-load.md and $(TARGET_DIR)/inbound-bench.md; *.md files.\n\
         [design]({design}), `tests/load/README.md`, README.md's table.\n"
    );
    assert_eq!(
        problems(&root, Path::new("crates/bench/README.md"), &text),
        Vec::<String>::new()
    );
}

#[test]
fn a_relative_reference_resolves_from_the_citing_directory_only_inside_the_repository() {
    let root = repo_root();
    let readme = Path::new("crates/connect-sim/README.md");
    assert!(resolves(
        &root,
        readme,
        concat!("../../docs/connect-chat", ".md")
    ));
    assert!(resolves(&root, readme, "docs/connect-chat.md"));
    assert!(!resolves(&root, readme, concat!("../../../README", ".md")));
    assert!(!resolves(&root, readme, concat!("/etc/README", ".md")));
    assert!(!resolves(&root, readme, concat!("docs/missing", ".md")));
}
