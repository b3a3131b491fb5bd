//! The layering of src/controllers/: every import of every file is resolved to the file it
//! names, and the test fails on an import that runs back up the layers or closes a cycle.
//!
//! The folders are ranked: machinery < connection < tenancy < reconciler < the kinds
//! (instance, snapshot, gds_session, cluster_credential), and the root mod.rs above all. A file
//! may name a file of its own folder or of a lower folder; never a higher folder, another kind,
//! or an ancestor module (its folder's mod.rs is the folder's face for the layers above, not a
//! place to import from), except that a kind's files share the items of their kind's mod.rs (the
//! kind's `Pass` alias and what its pass observed). Among the files, no import closes a cycle.
//!
//! Paths are read with `syn` from `use` trees and from paths in code (`super::x::f()`), inside
//! inline modules too (tests), and resolved against the files that exist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// The folders of src/controllers/, lowest first; the kinds share the top rank.
const RANKS: &[(&str, u8)] = &[
    ("machinery", 0),
    ("connection", 1),
    ("tenancy", 2),
    ("reconciler", 3),
    ("instance", 4),
    ("snapshot", 4),
    ("gds_session", 4),
    ("cluster_credential", 4),
];

/// Folders whose files may use items of the folder's own mod.rs.
const KINDS: &[&str] = &["instance", "snapshot", "gds_session"];

/// A module path from the crate root, as identifiers (`["controllers", "tenancy", "claims"]`).
type ModPath = Vec<String>;

/// One import: who names what, as written.
#[derive(Debug, Clone)]
struct Import {
    from: ModPath,
    to: ModPath,
    written: String,
}

/// The module path of a source file under `src/`.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: ModPath = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The file of a module, if it has one of its own.
fn file_of(src: &Path, module: &[String]) -> Option<PathBuf> {
    let base = module.iter().fold(src.to_path_buf(), |p, s| p.join(s));
    let flat = base.with_extension("rs");
    let folder = base.join("mod.rs");
    [flat, folder].into_iter().find(|p| p.is_file())
}

/// The longest prefix of `path` that is a module with a file.
fn target(src: &Path, path: &[String]) -> Option<ModPath> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| file_of(src, prefix).is_some())
}

/// Collects the paths a file names.
struct Collector {
    /// The module the visitor is in (the file's, plus inline modules).
    here: ModPath,
    found: Vec<(ModPath, String)>,
}

impl Collector {
    /// Resolves `segments` (as written, from `here`) to a path from the crate root; None for
    /// paths that do not start at `crate`, `super` or `self`.
    fn absolute(&self, segments: &[String]) -> Option<ModPath> {
        let mut at = self.here.clone();
        let mut rest = segments;
        match rest.first().map(String::as_str) {
            Some("crate") => {
                at.clear();
                rest = &rest[1..];
            }
            Some("super" | "self") => {}
            _ => return None,
        }
        while let Some(first) = rest.first() {
            match first.as_str() {
                "super" => {
                    at.pop();
                }
                "self" => {}
                _ => break,
            }
            rest = &rest[1..];
        }
        at.extend(rest.iter().cloned());
        Some(at)
    }

    fn record(&mut self, segments: Vec<String>) {
        if let Some(path) = self.absolute(&segments) {
            self.found.push((path, segments.join("::")));
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                full.push(n.ident.to_string());
                self.record(full);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                full.push(r.ident.to_string());
                self.record(full);
            }
            syn::UseTree::Glob(_) => self.record(prefix.clone()),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.here.push(item.ident.to_string());
        syn::visit::visit_item_mod(self, item);
        self.here.pop();
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.record(segments);
        syn::visit::visit_path(self, path);
    }
}

/// Every import between files of `src/<root>/`.
fn imports(src: &Path, root: &str) -> Vec<Import> {
    let mut files = Vec::new();
    let mut folders = vec![src.join(root)];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        let from = module_of(src, &file);
        let mut collector = Collector {
            here: from.clone(),
            found: Vec::new(),
        };
        collector.visit_file(&parsed);
        for (path, written) in collector.found {
            if path.first().map(String::as_str) != Some(root) {
                continue;
            }
            let Some(to) = target(src, &path) else {
                continue;
            };
            if to != from {
                found.push(Import {
                    from: from.clone(),
                    to,
                    written,
                });
            }
        }
    }
    found
}

/// The rank of a module under the root (its folder), or None for the root's own mod.rs.
fn rank(module: &[String]) -> Option<(&'static str, u8)> {
    let folder = module.get(1)?;
    let found = RANKS.iter().find(|(name, _)| name == folder);
    Some(*found.unwrap_or_else(|| panic!("{} is in no layer: add its folder to RANKS", folder)))
}

/// Why `import` runs the wrong way, if it does.
fn wrong_way(import: &Import) -> Option<String> {
    let (from, to) = (&import.from, &import.to);
    if from.starts_with(to) {
        let folder = from.get(1).map(String::as_str);
        let own_kind = to.len() == 2 && folder.is_some_and(|f| KINDS.contains(&f));
        // A module's tests in a file of their own (`tests.rs`) test what is above them.
        let tests_of_it = from.last().is_some_and(|m| m == "tests") && from.len() == to.len() + 1;
        return (!own_kind && !tests_of_it).then(|| "names a module it is part of".to_owned());
    }
    let (from_folder, from_rank) = rank(from)?;
    let Some((to_folder, to_rank)) = rank(to) else {
        return Some("names the controllers' root, above every layer".to_owned());
    };
    if from_folder == to_folder || to_rank < from_rank {
        return None;
    }
    Some(format!(
        "{from_folder} (rank {from_rank}) names {to_folder} (rank {to_rank})"
    ))
}

/// A cycle among the files, not counting a kind file's use of its kind's mod.rs (allowed
/// above), as the modules around it.
fn cycle(imports: &[Import]) -> Option<Vec<ModPath>> {
    let mut edges: BTreeMap<&ModPath, BTreeSet<&ModPath>> = BTreeMap::new();
    for import in imports.iter().filter(|i| !i.from.starts_with(&i.to)) {
        edges.entry(&import.from).or_default().insert(&import.to);
    }
    let mut done = BTreeSet::new();
    for start in edges.keys() {
        let mut path = Vec::new();
        if let Some(found) = visit(start, &edges, &mut path, &mut done) {
            return Some(found.into_iter().cloned().collect());
        }
    }
    None
}

fn visit<'a>(
    node: &'a ModPath,
    edges: &BTreeMap<&'a ModPath, BTreeSet<&'a ModPath>>,
    path: &mut Vec<&'a ModPath>,
    done: &mut BTreeSet<&'a ModPath>,
) -> Option<Vec<&'a ModPath>> {
    if let Some(at) = path.iter().position(|n| *n == node) {
        let mut found = path[at..].to_vec();
        found.push(node);
        return Some(found);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node);
    for next in edges.get(node).into_iter().flatten() {
        if let Some(found) = visit(next, edges, path, done) {
            return Some(found);
        }
    }
    path.pop();
    done.insert(node);
    None
}

/// The problems of the tree at `src`: imports the wrong way and a cycle.
fn problems(src: &Path) -> Vec<String> {
    let imports = imports(src, "controllers");
    let mut found: Vec<String> = imports
        .iter()
        .filter_map(|import| {
            wrong_way(import).map(|why| {
                format!(
                    "{} imports {} ({why})",
                    import.from.join("::"),
                    import.written
                )
            })
        })
        .collect();
    if let Some(cycle) = cycle(&imports) {
        let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
        found.push(format!("a cycle: {}", names.join(" -> ")));
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_import_in_the_controllers_runs_back_up_or_closes_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let imports = imports(&src, "controllers");
    // The reading works: the loop names the three layers below it.
    for layer in ["machinery", "connection", "tenancy"] {
        assert!(
            imports
                .iter()
                .any(|i| i.from.get(1).is_some_and(|f| f == "reconciler")
                    && i.to.get(1).is_some_and(|t| t == layer)),
            "no import from reconciler/ into {layer}/ found: the reader is broken"
        );
    }
    let problems = problems(&src);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Writes a small tree of files under a fresh directory and returns its `src`.
fn tree(files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "layers-{}-{}",
        std::process::id(),
        files.len() * 31 + files.iter().map(|(_, t)| t.len()).sum::<usize>()
    ));
    let src = dir.join("src");
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let file = src.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    src
}

#[test]
fn the_check_finds_an_upward_import_a_parent_import_and_a_cycle() {
    let src = tree(&[
        ("controllers/mod.rs", "pub mod machinery; pub mod tenancy;"),
        (
            "controllers/machinery/mod.rs",
            "pub mod error; pub mod memory; pub struct Engine;",
        ),
        (
            "controllers/machinery/error.rs",
            "use super::memory::Memory;\nfn f() { crate::controllers::tenancy::claims::take(); }",
        ),
        (
            "controllers/machinery/memory.rs",
            "pub struct Memory;\nfn g() -> super::error::E { todo!() }\nfn h(_: &super::Engine) {}",
        ),
        ("controllers/tenancy/mod.rs", "pub mod claims;"),
        (
            "controllers/tenancy/claims.rs",
            "use crate::controllers::machinery::error;\n#[cfg(test)] mod tests { use super::*; }",
        ),
    ]);
    let found = problems(&src);
    let has = |needle: &str| found.iter().any(|p| p.contains(needle));
    assert!(
        has(
            "controllers::machinery::error imports crate::controllers::tenancy::claims::take (machinery (rank 0) names tenancy (rank 2))"
        ),
        "{found:#?}"
    );
    assert!(
        has("controllers::machinery::memory imports super::Engine (names a module it is part of)"),
        "{found:#?}"
    );
    assert!(
        has(
            "a cycle: controllers::machinery::error -> controllers::machinery::memory -> controllers::machinery::error"
        ),
        "{found:#?}"
    );
    // A downward import and a test module's `use super::*` are fine.
    assert!(!has("controllers::tenancy::claims imports"), "{found:#?}");
    assert_eq!(found.len(), 3, "{found:#?}");
}
