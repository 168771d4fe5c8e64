//! What registries send and what a webhook accepts of it: the payload formats
//! (one module each), image and tag patterns, source allow-lists and delivery
//! limits. Pure rules, no storage: one delivery's handling is `service::delivery`.

pub mod cidr;
pub mod github_signature;
pub mod matching;
pub mod payload;
pub mod rate_limit;
