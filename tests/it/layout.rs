//! docs/architecture.md names every file of the code, tests, scripts,
//! benchmarks, docs and CI, so its layout cannot fall behind the tree: a
//! file is named by its path (`src/...` files relative to `src/`, test
//! modules by their name) or by a folder above it written as `folder/`.

use std::path::{Path, PathBuf};

use crate::support::repo;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name != ".ci" || name == "target" || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn the_architecture_doc_names_every_file() {
    let root = repo();
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).expect("the doc");
    let mut all = Vec::new();
    for dir in [
        "src", "tests/it", "scripts", "examples", "benches", "bench", "docs", ".ci",
    ] {
        files(&root.join(dir), &mut all);
    }
    assert!(all.len() > 60, "the walk found {} files", all.len());
    let mut missing = Vec::new();
    for path in &all {
        let rel = path
            .strip_prefix(&root)
            .expect("inside the repo")
            .to_string_lossy()
            .replace('\\', "/");
        let short = rel
            .strip_prefix("src/")
            .or_else(|| rel.strip_prefix("tests/it/"))
            .unwrap_or(&rel);
        let named = doc.contains(&format!("`{rel}`"))
            || doc.contains(&format!("`{short}`"))
            || Path::new(&rel)
                .ancestors()
                .skip(1)
                .filter(|a| !a.as_os_str().is_empty())
                .any(|a| doc.contains(&format!("`{}/`", a.to_string_lossy())));
        if !named {
            missing.push(rel);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/architecture.md does not name: {missing:?}"
    );
}

/// And every path in the layout's tables exists: the doc names no file
/// that is gone.
#[test]
fn every_file_the_layout_names_exists() {
    let root = repo();
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).expect("the doc");
    let layout = doc.split("## Layout").nth(1).expect("a Layout section");
    let mut named = 0;
    for line in layout.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split(" | ").next().unwrap_or_default();
        for item in first.split('`').skip(1).step_by(2) {
            named += 1;
            let found = [root.join(item), root.join("src").join(item)]
                .iter()
                .any(|p| p.exists());
            assert!(
                found,
                "docs/architecture.md names {item:?}, which does not exist"
            );
        }
    }
    assert!(named > 60, "only {named} paths read from the layout tables");
}
