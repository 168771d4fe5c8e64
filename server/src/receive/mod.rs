pub mod callback;
pub mod matching;
pub mod payload;
