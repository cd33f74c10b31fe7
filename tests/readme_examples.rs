//! Every crate's README shows a usage example of at most 10 lines that is
//! also a doc test (issue #12, item 6): the `rust` blocks of `README.md` and
//! `crates/*/README.md` are counted here, and each crate root must include
//! its README as a doc test (`#[doc = include_str!("../README.md")]`).

use std::path::{Path, PathBuf};

/// The lines a reader sees in each `rust` block: not blank, and not hidden
/// from the rendered docs (`# ` lines are compiled but not shown).
fn visible_example_lines(readme: &str) -> Vec<usize> {
    let mut blocks = Vec::new();
    let mut inside = None;
    for line in readme.lines() {
        let t = line.trim_start();
        match inside {
            None if t.starts_with("```rust") => inside = Some(0),
            Some(n) if t.starts_with("```") => {
                blocks.push(n);
                inside = None;
            }
            Some(n) => {
                let hidden = t == "#" || t.starts_with("# ");
                if !hidden && !t.is_empty() {
                    inside = Some(n + 1);
                }
            }
            None => {}
        }
    }
    blocks
}

fn readmes() -> Vec<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![(root.join("README.md"), root.join("src/lib.rs"))];
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    crates.sort();
    out.extend(
        crates
            .into_iter()
            .map(|c| (c.join("README.md"), c.join("src/lib.rs"))),
    );
    out
}

#[test]
fn every_readme_example_has_at_most_ten_visible_lines_and_asserts() {
    let all = readmes();
    assert!(all.len() >= 9, "{all:?}");
    for (readme, _) in &all {
        let text =
            std::fs::read_to_string(readme).unwrap_or_else(|e| panic!("{}: {e}", readme.display()));
        let blocks = visible_example_lines(&text);
        assert!(!blocks.is_empty(), "{}: no rust example", readme.display());
        for n in blocks {
            assert!(n <= 10, "{}: an example of {n} lines", readme.display());
        }
        assert!(
            text.contains("assert"),
            "{}: asserts nothing",
            readme.display()
        );
    }
}

#[test]
fn every_readme_is_run_as_a_doc_test() {
    for (readme, lib) in readmes() {
        let src = std::fs::read_to_string(&lib).unwrap();
        let at = src
            .find("#[doc = include_str!(\"../README.md\")]")
            .unwrap_or_else(|| panic!("{} does not include {}", lib.display(), readme.display()));
        // The include sits on an item compiled only for doc tests.
        let item = &src[at..src.len().min(at + 200)];
        assert!(
            item.contains("#[cfg(doctest)]"),
            "{}: {item}",
            lib.display()
        );
    }
}

#[test]
fn the_line_count_ignores_hidden_and_blank_lines() {
    let md = "text\n```rust\nuse a::b;\n# use hidden;\n#\n\nlet x = 1;\nassert!(x == 1);\n```\n```sh\nls\n```\n";
    assert_eq!(visible_example_lines(md), vec![3]);
}
