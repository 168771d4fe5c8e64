//! The receivers' side: deliveries from registries, their payload formats,
//! the webhooks' filters and allow-lists, and Docker Hub's callback.

pub mod callback;
pub mod cidr;
pub mod delivery;
pub mod matching;
pub mod payload;
