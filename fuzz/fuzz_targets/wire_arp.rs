//! Any bytes: the ARP frame parser must not panic, and an accepted frame re-emits to a frame
//! that parses to the same meaning.
#![no_main]

use libfuzzer_sys::fuzz_target;
use piranha_engine::wire::arp;

fuzz_target!(|data: &[u8]| {
    if let Ok(repr) = arp::Repr::parse_bytes(data) {
        let again = arp::Repr::parse_bytes(&repr.to_bytes()).expect("emitted frame parses");
        assert_eq!(again, repr);
    }
});
