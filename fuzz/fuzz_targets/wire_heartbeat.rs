//! Any bytes: the heartbeat parsers (legacy 4-byte magic, authenticated v2) must not panic, and
//! whatever they accept must re-emit to the same bytes. For v2 the input is also signed with
//! the fuzz key before parsing, so the fuzzer reaches the field checks behind the HMAC.
#![no_main]

use libfuzzer_sys::fuzz_target;
use piranha_engine::wire::{legacy, v2};

fuzz_target!(|data: &[u8]| {
    if let Ok(repr) = legacy::Repr::parse_bytes(data) {
        assert_eq!(data.len(), 4);
        let again = legacy::Repr::parse_bytes(&repr.to_bytes()).expect("emitted legacy parses");
        assert_eq!(again, repr);
    }
    let key = v2::Key::new(b"fuzz key").expect("non-empty key");
    if let Ok(repr) = v2::Repr::parse_bytes(data, &key) {
        assert_eq!(&repr.to_bytes(&key)[..], data, "v2 re-emits the same bytes");
    }
    let mut signed = data.to_vec();
    if let Ok(mut packet) = v2::Packet::new_checked(&mut signed[..]) {
        packet.fill_tag(&key);
        if let Ok(repr) = v2::Repr::parse_bytes(&signed, &key) {
            assert_eq!(&repr.to_bytes(&key)[..], &signed[..]);
        }
    }
});
