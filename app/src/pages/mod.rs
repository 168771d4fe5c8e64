pub mod endpoints;
pub mod layout;
pub mod login;
pub mod members;
pub mod placeholder;
pub mod projects;
pub mod tokens;
pub mod widgets;
