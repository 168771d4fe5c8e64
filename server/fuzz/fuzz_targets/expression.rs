#![no_main]
//! See `server::fuzz_entry::expression` for the input and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzz_entry::expression(data));
