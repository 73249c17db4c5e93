//! The envfile parser (`configparser` rules): arbitrary text through
//! `Envfile::parse`, every key read back (with interpolation); and
//! `escape_value` round trip: a value it accepts reads back unchanged.

#![no_main]

use std::path::Path;

use authnz_server::config::{Envfile, escape_value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("/fuzz/.env");
    if let Ok(file) = Envfile::parse(path, &text) {
        let keys: Vec<String> = file.keys().map(str::to_owned).collect();
        for key in &keys {
            let _ = file.get(key);
            let _ = file.get(&key.to_lowercase());
        }
    }
    // The first line as a value written by auto-setup.
    let value = text.lines().next().unwrap_or_default();
    if let Ok(escaped) = escape_value(value) {
        let written = format!("KEY={escaped}\n");
        let file = match Envfile::parse(path, &written) {
            Ok(f) => f,
            Err(e) => panic!("escaped value {value:?} does not parse: {e}"),
        };
        match file.get("KEY") {
            Ok(Some(back)) => assert_eq!(back, value, "escaped value did not read back"),
            other => panic!("escaped value {value:?} reads back as {other:?}"),
        }
    }
});
