//! The server's code names request types by `RequestType`, never by a
//! string: no string literal equal to a request type's wire name appears in
//! `authnz-server/src` or `authnz-core/src` outside test code. A request type's name is written
//! once, in the request table of `authnz_proto::request`.

use std::path::{Path, PathBuf};

use authnz_proto::request::RequestType;

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read src dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The directory holding the child modules of the module in `file`.
fn child_dir(file: &Path) -> PathBuf {
    let parent = file.parent().expect("parent").to_path_buf();
    match file.file_stem().and_then(|s| s.to_str()) {
        Some("mod" | "lib" | "main") => parent,
        Some(stem) => parent.join(stem),
        None => parent,
    }
}

/// The non-test lines of `text` (from `file`), with their numbers, and the
/// paths of test-only module files it declares. A test region starts at a
/// `#[cfg(test)]` line: an inline module there runs to its closing `}` in
/// column 0 (the code is rustfmt-formatted, so a top-level item closes
/// there); a `mod name;` there makes `name.rs` or `name/` test-only.
fn production_lines(
    file: &Path,
    text: &str,
    test_paths: &mut Vec<PathBuf>,
) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "#[cfg(test)]" {
            out.push((i + 1, lines[i].to_owned()));
            i += 1;
            continue;
        }
        // Attributes, then the item.
        let mut j = i + 1;
        let mut path_attr = None;
        while j < lines.len() && lines[j].trim_start().starts_with("#[") {
            if let Some(p) = lines[j].trim().strip_prefix("#[path = \"") {
                path_attr = p.strip_suffix("\"]").map(str::to_owned);
            }
            j += 1;
        }
        let item = lines.get(j).map_or("", |l| l.trim());
        if item.starts_with("mod ") && item.ends_with(';') {
            let name = item.trim_start_matches("mod ").trim_end_matches(';');
            let dir = child_dir(file);
            match path_attr {
                Some(p) => test_paths.push(file.parent().expect("parent").join(p)),
                None => {
                    test_paths.push(dir.join(format!("{name}.rs")));
                    test_paths.push(dir.join(name));
                }
            }
            i = j + 1;
        } else if item.ends_with('{') {
            let mut k = j + 1;
            while k < lines.len() && lines[k] != "}" {
                k += 1;
            }
            i = k + 1;
        } else {
            // A single test-only line (`use`, `const`, ...).
            i = j + 1;
        }
    }
    out
}

/// The string literals on `line` (outside `//` comments) that equal a
/// request type's wire name.
fn request_names_in(line: &str) -> Vec<&'static str> {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return Vec::new();
    }
    RequestType::ALL
        .iter()
        .map(|k| k.name())
        .filter(|name| line.contains(&format!("\"{name}\"")))
        .collect()
}

#[test]
fn the_scanner_sees_literals_and_skips_tests() {
    assert_eq!(request_names_in(r#"    foo("user-new", 1);"#), ["user-new"]);
    assert!(request_names_in(r#"    // foo("user-new")"#).is_empty());
    assert!(request_names_in(r#"    foo("user-news")"#).is_empty());
    let text = "fn a() { x(\"user-login\"); }\n#[cfg(test)]\nmod tests {\n    fn b() { x(\"user-new\"); }\n}\nfn c() {}\n#[cfg(test)]\n#[path = \"v.rs\"]\nmod vectors;\n";
    let mut test_paths = Vec::new();
    let lines = production_lines(Path::new("/s/a.rs"), text, &mut test_paths);
    let found: Vec<&str> = lines
        .iter()
        .flat_map(|(_, l)| request_names_in(l))
        .collect();
    assert_eq!(found, ["user-login"]);
    assert_eq!(lines.last().map(|(_, l)| l.as_str()), Some("fn c() {}"));
    assert_eq!(test_paths, [PathBuf::from("/s/v.rs")]);
}

#[test]
fn server_code_names_requests_by_type_not_by_string() {
    let server = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for src in [server.join("src"), server.join("../authnz-core/src")] {
        let before = files.len();
        rust_files(&src, &mut files);
        assert!(
            files.len() - before > 20,
            "scanned {} files in {}",
            files.len() - before,
            src.display()
        );
    }
    let mut test_paths = Vec::new();
    let mut per_file = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        per_file.push((file, production_lines(file, &text, &mut test_paths)));
    }
    let mut found = Vec::new();
    let mut scanned_lines = 0;
    for (file, lines) in per_file {
        if test_paths.iter().any(|t| file.starts_with(t)) {
            continue;
        }
        scanned_lines += lines.len();
        for (n, line) in lines {
            for name in request_names_in(&line) {
                found.push(format!("{}:{n}: \"{name}\"", file.display()));
            }
        }
    }
    assert!(scanned_lines > 5000, "scanned {scanned_lines} lines");
    assert!(
        found.is_empty(),
        "request type names written as strings (use RequestType):\n{}",
        found.join("\n")
    );
}
