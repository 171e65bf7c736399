//! `piranha`: the one binary of the piranha director stack (placeholder until the CLI lands).
fn main() {}
