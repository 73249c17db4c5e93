//! Arbitrary bytes as the plaintext of a correctly sealed request: JSON
//! parsing and truthiness in `Codec::open`, then the envelope fields, the
//! request type and the schema check of the body against every request
//! type, and the reply round trip.

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = common::CODEC.seal_bytes(data);
    if let Ok(value) = common::CODEC.open(token.as_bytes()) {
        common::decode_request(value);
    }
});
