//! Snapshots of the corpus under tests/corpus/: the canonical form of every good file (with
//! its warnings) and the full error output of every `bad_*` file. Good files must also be
//! fixed points of the writer and keep their meaning through it.

mod config_support;

use std::path::Path;

use piranha_engine::config::{format, parse};

fn display_name(path: &Path) -> String {
    format!("corpus/{}", path.file_name().unwrap().to_string_lossy())
}

#[test]
fn corpus() {
    insta::glob!("corpus/*.cf", |path| {
        let bytes = std::fs::read(path).unwrap();
        let name = display_name(path);
        let bad = name.starts_with("corpus/bad_");
        let out = config_support::snapshot(&name, parse(&name, &bytes), !bad, |b| parse(&name, b));
        insta::assert_snapshot!(out);
    });
}

/// The example shipped to operators is already canonical.
#[test]
fn example_is_canonical() {
    let src = std::fs::read_to_string("examples/lvs.cf").unwrap();
    let parsed = parse("examples/lvs.cf", src.as_bytes()).unwrap();
    assert!(parsed.warnings.is_empty());
    assert_eq!(format(&parsed.config), src);
}
