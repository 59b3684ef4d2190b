//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds the
//! `migrations/` directory, and cargo does not watch files a macro reads by itself.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
