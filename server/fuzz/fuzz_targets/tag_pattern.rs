#![no_main]
//! See `server::fuzz_entry::tag_pattern` for the input and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzz_entry::tag_pattern(data));
