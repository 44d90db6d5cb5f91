//! The layering of the host crates: within each crate, the rooms (the top-level modules: a file
//! or a folder under `src/`) import one another without a cycle, so every room can be read
//! knowing only the rooms below it.
//!
//! A room's imports are the `crate::ROOM` paths in its code (comments and `#[cfg(test)] mod
//! tests` left out). Root re-exports (`crate::Engine`) are resolved to the room that defines
//! them through the crate root's `pub use` lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates whose rooms must not import each other in a circle.
const CRATES: [&str; 5] = [
    "host/policy",
    "host/backends",
    "host/gate",
    "host/runtime",
    "host/agent",
];

type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments and its unit-test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segments after each `crate::` in `code` (`crate::{a::X, b}` gives `a`, `b`).
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let first = item.trim().split("::").next().unwrap_or("").trim();
                if !first.is_empty() {
                    found.push(first.to_string());
                }
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            found.push(rest[..end].to_string());
        }
    }
    found
}

/// Root names re-exported from a room (`pub use room::…::{A, B}` in `lib.rs`), by name.
fn root_exports(root: &str, rooms: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut exports = BTreeMap::new();
    for statement in code(root).split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let room = path.split("::").next().unwrap_or("").trim();
        if !rooms.contains(room) {
            continue;
        }
        let names = match path.find('{') {
            Some(open) => path[open + 1..].trim_end_matches('}').to_string(),
            None => path.rsplit("::").next().unwrap_or("").to_string(),
        };
        for name in names.split(',') {
            let name = name.split(" as ").last().unwrap_or("").trim();
            let name = name.rsplit("::").next().unwrap_or("").trim();
            if !name.is_empty() {
                exports.insert(name.to_string(), room.to_string());
            }
        }
    }
    exports
}

/// Which room imports which, with the files that do.
fn graph(krate: &str) -> Graph {
    let src = workspace().join(krate).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let room_of = |file: &Path| -> String {
        let first = file
            .strip_prefix(&src)
            .unwrap()
            .components()
            .next()
            .unwrap();
        let name = first.as_os_str().to_string_lossy();
        name.trim_end_matches(".rs").to_string()
    };
    let rooms: BTreeSet<String> = files
        .iter()
        .map(|f| room_of(f))
        .filter(|r| r != "lib" && r != "main")
        .collect();
    let root = ["lib.rs", "main.rs"]
        .iter()
        .map(|f| src.join(f))
        .find(|p| p.exists())
        .expect("a crate root");
    let exports = root_exports(&std::fs::read_to_string(&root).unwrap(), &rooms);
    let mut graph = Graph::new();
    for file in &files {
        let from = room_of(file);
        if !rooms.contains(&from) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for first in crate_paths(&code(&text)) {
            let to = if rooms.contains(&first) {
                first
            } else if let Some(room) = exports.get(&first) {
                room.clone()
            } else {
                continue;
            };
            if to != from {
                let shown = file
                    .strip_prefix(workspace())
                    .unwrap()
                    .display()
                    .to_string();
                graph
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .insert(shown);
            }
        }
    }
    graph
}

/// A path that leads from `start` back to it, if there is one.
fn circle_through(graph: &Graph, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &Graph,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flat_map(BTreeMap::keys) {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

fn circles(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for room in graph.keys() {
        if let Some(path) = circle_through(graph, room) {
            let mut lines = vec![format!("{} -> {}", path.join(" -> "), room)];
            for pair in path.windows(2).chain(std::iter::once(
                &[path[path.len() - 1].clone(), room.clone()][..],
            )) {
                let files = &graph[&pair[0]][&pair[1]];
                lines.push(format!("  {} -> {}: {files:?}", pair[0], pair[1]));
            }
            found.push(lines.join("\n"));
        }
    }
    found
}

#[test]
fn the_rooms_of_each_host_crate_import_each_other_without_a_circle() {
    let mut problems = Vec::new();
    for krate in CRATES {
        let graph = graph(krate);
        assert!(
            krate == "host/backends" || !graph.is_empty(),
            "{krate}: no imports between rooms found; is the scan still reading the code?"
        );
        for circle in circles(&graph) {
            problems.push(format!("{krate}: {circle}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    // The scan on a made-up crate: `a` and `b` import each other through a root re-export.
    let exports = root_exports(
        "pub use b::{Thing, other::More};",
        &["a".into(), "b".into()].into(),
    );
    assert_eq!(exports["Thing"], "b");
    assert_eq!(exports["More"], "b");
    assert_eq!(
        crate_paths("use crate::{a::X, b};\nlet x = crate::Thing::new();"),
        ["a", "b", "Thing"]
    );
    let mut graph = Graph::new();
    graph
        .entry("a".into())
        .or_default()
        .entry("b".into())
        .or_default()
        .insert("a.rs".into());
    assert!(circles(&graph).is_empty());
    graph
        .entry("b".into())
        .or_default()
        .entry("a".into())
        .or_default()
        .insert("b.rs".into());
    assert_eq!(circles(&graph).len(), 2, "{:?}", circles(&graph));
}
