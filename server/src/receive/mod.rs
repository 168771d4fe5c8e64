//! What registries send and what a webhook accepts of it: the payload formats
//! (one module each), image and tag patterns, and source allow-lists. Pure
//! rules, no storage: one delivery's handling is `service::delivery`.

pub mod cidr;
pub mod matching;
pub mod payload;
