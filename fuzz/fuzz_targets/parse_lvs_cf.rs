//! Any bytes: the lvs.cf parser must not panic, and whatever it accepts must keep its
//! meaning through the canonical writer, which must be a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use piranha_engine::config::{format, parse};

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = parse("fuzz.cf", data) {
        let text = format(&parsed.config);
        let again = parse("fuzz.cf", text.as_bytes()).expect("the canonical form parses");
        assert_eq!(again.config, parsed.config, "format changed the meaning");
        assert_eq!(format(&again.config), text, "format is not a fixed point");
    }
});
