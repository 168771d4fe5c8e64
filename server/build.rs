// `sqlx::migrate!` embeds the migrations in the crate when it is compiled, but
// cargo does not know the macro read them: without this, a new migration file
// would not be in the next build unless a Rust file changed too.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
