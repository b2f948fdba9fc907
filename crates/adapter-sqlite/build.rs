//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds the SQL files at
//! compile time, and Cargo cannot see that dependency by itself.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
}
