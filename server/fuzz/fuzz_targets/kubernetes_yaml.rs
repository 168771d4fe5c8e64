#![no_main]
//! See `server::fuzz_entry::kubernetes_yaml` for the input and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzz_entry::kubernetes_yaml(data));
