//! Arbitrary bytes as a request body: the two base64 layers and Fernet of
//! `Codec::open` (and `open_stamped`, used with the replay guard), then the
//! envelope and schema checks for whatever opens.

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = common::CODEC.open(data) {
        common::decode_request(value);
    }
    let _ = common::CODEC.open_stamped(data);
});
