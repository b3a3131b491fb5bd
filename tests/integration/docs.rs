//! The documentation book (`docs/`): its generated API reference matches the CRDs, every page is
//! in the table of contents, every link inside the book lands on a page and heading that exist,
//! and every Aura resource shown in it is one the API server and the operator accept.
//! `mdbook build` itself runs when mdbook is on PATH (always on CI: `.ci/run` installs it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

fn book() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/src")
}

/// Every Markdown page under `docs/src`, as paths relative to it.
fn pages() -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                let relative = path.strip_prefix(root).unwrap();
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(&book(), &book(), &mut out);
    out.sort();
    out
}

fn read(page: &str) -> String {
    std::fs::read_to_string(book().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"))
}

/// Markdown links `[text](target)` outside code, with their targets.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

/// The lines of a page outside fenced code blocks, with inline code removed.
fn prose(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            let parts: Vec<&str> = line.split('`').collect();
            out.push(parts.iter().step_by(2).copied().collect::<String>());
        }
    }
    out
}

/// mdBook's anchor for a heading: lower case, letters, digits, `-` and `_` kept, spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

fn anchors(page: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in read(page).lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.starts_with('#') {
            out.insert(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// Resolves `target` (relative to `page`) to a page of the book and an optional anchor.
fn resolve(page: &str, target: &str) -> (String, Option<String>) {
    let (file, fragment) = match target.split_once('#') {
        Some((file, fragment)) => (file, Some(fragment.to_string())),
        None => (target, None),
    };
    if file.is_empty() {
        return (page.to_string(), fragment);
    }
    let mut parts: Vec<&str> = page.split('/').collect();
    parts.pop();
    for segment in file.split('/') {
        match segment {
            ".." => {
                parts.pop();
            }
            "." => {}
            other => parts.push(other),
        }
    }
    (parts.join("/"), fragment)
}

#[test]
fn the_api_reference_is_what_the_crds_say() {
    let dir = book().join("reference");
    let generated = aura_operator::cli::reference::pages();
    let mut problems = Vec::new();
    for (file, text) in &generated {
        match std::fs::read_to_string(dir.join(file)) {
            Ok(found) if &found == text => {}
            Ok(_) => problems.push(format!("{file} differs")),
            Err(e) => problems.push(format!("{file}: {e}")),
        }
    }
    let names: BTreeSet<&str> = generated.iter().map(|(f, _)| f.as_str()).collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !names.contains(name.as_str()) {
            problems.push(format!("{name} is not generated"));
        }
    }
    assert!(
        problems.is_empty(),
        "{problems:?}: run `cargo run -- reference --out-dir docs/src/reference`"
    );
}

#[test]
fn every_page_is_in_the_summary_and_every_entry_exists() {
    let summary = read("SUMMARY.md");
    let listed: BTreeSet<String> = links(&summary).into_iter().collect();
    let present: BTreeSet<String> = pages().into_iter().filter(|p| p != "SUMMARY.md").collect();
    let missing: Vec<_> = present.difference(&listed).collect();
    let dangling: Vec<_> = listed.difference(&present).collect();
    assert!(
        missing.is_empty() && dangling.is_empty(),
        "pages not in SUMMARY.md: {missing:?}; entries without a page: {dangling:?}"
    );
}

#[test]
fn every_link_inside_the_book_lands() {
    let present: BTreeSet<String> = pages().into_iter().collect();
    let mut broken = Vec::new();
    for page in &present {
        for target in links(&read(page)) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = resolve(page, &target);
            if !present.contains(&file) {
                broken.push(format!("{page}: {target} (no page {file})"));
                continue;
            }
            if let Some(fragment) = fragment
                && !anchors(&file).contains(&fragment)
            {
                broken.push(format!(
                    "{page}: {target} (no heading #{fragment} in {file})"
                ));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
fn the_link_check_sees_a_broken_anchor() {
    assert_eq!(
        resolve("kinds/aurainstance.md", "../lifecycle.md#observe-only"),
        ("lifecycle.md".into(), Some("observe-only".into()))
    );
    assert_eq!(anchor(" GitOps (Argo CD, Flux)"), "gitops-argo-cd-flux");
    assert!(!anchors("lifecycle.md").contains("no-such-heading"));
    assert!(anchors("lifecycle.md").contains("observe-only"));
}

/// Every YAML code block of the book, with the page it is on.
fn yaml_blocks() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for page in pages() {
        let mut block: Option<String> = None;
        for line in read(&page).lines() {
            let fence = line.trim_start();
            match &mut block {
                None if fence.starts_with("```yaml") => block = Some(String::new()),
                Some(text) if fence.starts_with("```") => {
                    out.push((page.clone(), std::mem::take(text)));
                    block = None;
                }
                Some(text) => {
                    text.push_str(line);
                    text.push('\n');
                }
                None => {}
            }
        }
    }
    out
}

#[test]
fn every_aura_resource_in_the_book_is_accepted() {
    let mut checked = BTreeSet::new();
    for (page, text) in yaml_blocks() {
        if !text.contains("apiVersion: aura.neo4j.io/") {
            continue;
        }
        for doc in serde_norway::Deserializer::from_str(&text) {
            let doc = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{page}: a sample is not YAML: {e}\n{text}"));
            let is_aura = doc["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("aura.neo4j.io/"));
            if !is_aura {
                continue;
            }
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            assert_eq!(
                super::examples::check(&doc),
                Ok(()),
                "{page}: {kind} {}",
                doc["metadata"]["name"]
            );
            checked.insert(kind);
        }
    }
    for kind in [
        "AuraInstance",
        "AuraSnapshot",
        "GdsSession",
        "ClusterAuraCredential",
    ] {
        assert!(checked.contains(kind), "the book shows no {kind}");
    }
}

#[test]
fn mdbook_builds_the_book() {
    let Ok(mdbook) = which("mdbook") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "mdbook is not on PATH on CI (.ci/run installs it)"
        );
        eprintln!("SKIPPED: mdbook is not on PATH (cargo install mdbook --locked)");
        return;
    };
    let out = tempdir();
    let status = std::process::Command::new(mdbook)
        .arg("build")
        .arg(book().parent().unwrap())
        .arg("--dest-dir")
        .arg(&out)
        .output()
        .expect("mdbook runs");
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(status.status.success(), "mdbook build failed:\n{stderr}");
    assert!(!stderr.contains("[WARN]"), "mdbook warned:\n{stderr}");
    for page in pages().iter().filter(|p| *p != "SUMMARY.md") {
        let html = out.join(page.replace(".md", ".html"));
        assert!(html.exists(), "{} was not built", html.display());
    }
    let _ = std::fs::remove_dir_all(&out);
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .ok_or(())
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aura-operator-book-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
