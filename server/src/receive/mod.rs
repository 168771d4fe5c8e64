pub mod matching;
pub mod payload;
