//! The Python-JSON writer (`json.dumps` with default arguments, used for
//! JSON columns and JSON inside wire strings) against the JSON reader:
//! parse -> write -> parse gives the same value, and writing is stable.

#![no_main]

use authnz_proto::python::json::{dumps, dumps_ordered};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    // Read as the server reads requests (Python's json.loads rules: NaN,
    // Infinity, numbers of any size kept as their text).
    let Ok(value) = authnz_proto::python::json::loads(data) else {
        return;
    };
    let text = dumps(&value);
    assert!(text.is_ascii(), "json.dumps output must be ASCII: {text:?}");
    let back: Value = match authnz_proto::python::json::loads(text.as_bytes()) {
        Ok(v) => v,
        Err(e) => panic!("dumps wrote text that does not read back ({e}): {text:?}"),
    };
    // Numbers keep their text (`1E5` is written `100000.0`), so the value
    // read back is compared through what it writes: stable after one pass.
    assert_eq!(dumps(&back), text, "writing is not stable");
    if let Value::Object(map) = &value {
        let entries: Vec<(&str, Value)> =
            map.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let ordered = dumps_ordered(&entries);
        assert_eq!(
            ordered, text,
            "dumps_ordered differs from dumps for the same order"
        );
    }
});
