//! The short run of the parsers' fuzz targets (`server/fuzz`, run long by
//! `scripts/fuzz` on nightly) that every `cargo test` does on stable: the
//! same entries in `server::fuzz_entry`, fed by proptest from the targets'
//! own seeds and dictionaries. Payloads have their own file
//! (`payload_props.rs`). `PROPTEST_CASES=100000` makes a long run.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use server::fuzz_entry;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The seed files of a fuzz target.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = fuzz_dir().join("seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a seed directory entry").path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files
        .iter()
        .map(|file| std::fs::read(file).expect("a readable seed"))
        .collect();
    assert!(!seeds.is_empty(), "{} holds no seeds", dir.display());
    seeds
}

/// The entries of a libFuzzer dictionary (`"text"` per line, `\xNN`,
/// `\\` and `\"` escapes, `#` comments).
fn dictionary(name: &str) -> Vec<Vec<u8>> {
    let file = fuzz_dir().join("dictionaries").join(name);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    text.lines()
        .map(str::trim)
        .filter(|line| line.starts_with('"') && line.ends_with('"') && line.len() >= 2)
        .map(|line| unescape(&line[1..line.len() - 1]))
        .collect()
}

fn unescape(entry: &str) -> Vec<u8> {
    let bytes = entry.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match (bytes[index], bytes.get(index + 1)) {
            (b'\\', Some(b'x')) => {
                let hex = std::str::from_utf8(&bytes[index + 2..index + 4]).expect("ASCII");
                out.push(u8::from_str_radix(hex, 16).expect("\\xNN"));
                index += 4;
            }
            (b'\\', Some(&escaped)) => {
                out.push(escaped);
                index += 2;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    out
}

/// Bytes made of dictionary entries and bits of arbitrary text: closer to
/// the grammar than random bytes, which rarely get past the first token.
fn soup(dictionary_name: &str) -> impl Strategy<Value = Vec<u8>> {
    let tokens = dictionary(dictionary_name);
    let piece = prop_oneof![
        3 => prop::sample::select(tokens),
        2 => "[a-z0-9 ._:/-]{0,6}".prop_map(String::into_bytes),
        1 => "(?s).{0,4}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// A seed with bytes overwritten, inserted, deleted, or spliced in from the
/// dictionary, at arbitrary positions.
fn damaged_seed(target: &str, dictionary_name: &str) -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        any::<usize>(),
        0u8..4,
        any::<u8>(),
        prop::sample::select(dictionary(dictionary_name)),
    );
    (
        prop::sample::select(seeds(target)),
        prop::collection::vec(edit, 1..6),
    )
        .prop_map(|(seed, edits)| {
            let mut bytes = seed;
            for (position, operation, byte, token) in edits {
                let position = position % (bytes.len() + 1);
                match operation {
                    0 if position < bytes.len() => bytes[position] = byte,
                    1 => bytes.insert(position, byte),
                    2 => {
                        bytes.splice(position..position, token);
                    }
                    _ if position < bytes.len() => {
                        bytes.remove(position);
                    }
                    _ => {}
                }
            }
            bytes
        })
}

/// Fields joined with NUL bytes, as the entries that take several read them.
fn joined(fields: Vec<Vec<u8>>) -> Vec<u8> {
    fields.join(&0u8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_entry::cases(256)))]

    #[test]
    fn pipeline_text_soup(body in soup("yaml.dict")) {
        fuzz_entry::pipeline_text(&body);
    }

    #[test]
    fn pipeline_text_damaged_seeds(body in damaged_seed("pipeline_text", "yaml.dict")) {
        fuzz_entry::pipeline_text(&body);
    }

    #[test]
    fn kubernetes_yaml_soup(body in soup("yaml.dict")) {
        fuzz_entry::kubernetes_yaml(&body);
    }

    #[test]
    fn kubernetes_yaml_damaged_seeds(body in damaged_seed("kubernetes_yaml", "yaml.dict")) {
        fuzz_entry::kubernetes_yaml(&body);
    }

    #[test]
    fn expression_soup(fields in prop::collection::vec(soup("expression.dict"), 1..4)) {
        fuzz_entry::expression(&joined(fields));
    }

    #[test]
    fn expression_damaged_seeds(data in damaged_seed("expression", "expression.dict")) {
        fuzz_entry::expression(&data);
    }

    #[test]
    fn bindings_soup(fields in prop::collection::vec(soup("bindings.dict"), 1..4)) {
        fuzz_entry::bindings(&joined(fields));
    }

    #[test]
    fn bindings_damaged_seeds(data in damaged_seed("bindings", "bindings.dict")) {
        fuzz_entry::bindings(&data);
    }

    #[test]
    fn tag_pattern_soup(fields in prop::collection::vec(soup("tag_pattern.dict"), 1..4)) {
        fuzz_entry::tag_pattern(&joined(fields));
    }

    #[test]
    fn tag_pattern_damaged_seeds(data in damaged_seed("tag_pattern", "tag_pattern.dict")) {
        fuzz_entry::tag_pattern(&data);
    }
}

/// A fuzz target's entry point.
type Entry = fn(&[u8]);

/// Every fuzz target by name, with its entry.
const TARGETS: [(&str, Entry); 6] = [
    ("payload", fuzz_entry::payload),
    ("pipeline_text", fuzz_entry::pipeline_text),
    ("kubernetes_yaml", fuzz_entry::kubernetes_yaml),
    ("expression", fuzz_entry::expression),
    ("bindings", fuzz_entry::bindings),
    ("tag_pattern", fuzz_entry::tag_pattern),
];

/// The files in `dir/TARGET/` for each target that has that directory.
fn inputs_under(dir: &Path) -> Vec<(PathBuf, Entry)> {
    let mut inputs = Vec::new();
    for (target, entry) in TARGETS {
        let Ok(files) = std::fs::read_dir(dir.join(target)) else {
            continue;
        };
        for file in files {
            inputs.push((file.expect("a directory entry").path(), entry));
        }
    }
    inputs.sort();
    inputs
}

/// The seeds themselves hold every property.
#[test]
fn every_seed_holds() {
    for (target, entry) in TARGETS {
        for seed in seeds(target) {
            entry(&seed);
        }
    }
}

/// Each input a fuzz target once failed on (`server/fuzz/regressions/TARGET/`,
/// the crash files, minimized) holds now. `SLIPWAY_FUZZ_REPLAY=DIR` replays
/// the files under `DIR/TARGET/` too: a run's `server/fuzz/artifacts`, on stable.
#[test]
fn saved_fuzz_inputs_hold() {
    let regressions = inputs_under(&fuzz_dir().join("regressions"));
    assert!(!regressions.is_empty(), "no regression inputs found");
    let replayed = std::env::var_os("SLIPWAY_FUZZ_REPLAY")
        .map(|dir| inputs_under(Path::new(&dir)))
        .unwrap_or_default();
    let mut failures = Vec::new();
    for (file, entry) in regressions.into_iter().chain(replayed) {
        let input = std::fs::read(&file).expect("a readable input");
        if let Err(panic) = std::panic::catch_unwind(|| entry(&input)) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
                .to_string();
            failures.push(format!("{}: {message}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
