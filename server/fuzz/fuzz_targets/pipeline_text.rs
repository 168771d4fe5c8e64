#![no_main]
//! See `server::fuzz_entry::pipeline_text` for the input and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzz_entry::pipeline_text(data));
