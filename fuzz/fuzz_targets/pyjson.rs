//! The Python-JSON writer (`json.dumps` with default arguments, used for
//! JSON columns and JSON inside wire strings) against the JSON reader:
//! parse -> write -> parse gives the same value, and writing is stable.

#![no_main]

use authnz_server::protocol::pyjson::{dumps, dumps_ordered};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let text = dumps(&value);
    assert!(text.is_ascii(), "json.dumps output must be ASCII: {text:?}");
    let back: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!("dumps wrote text that does not parse ({e}): {text:?}"),
    };
    assert_eq!(
        back, value,
        "round trip changed the value; written as {text:?}"
    );
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
