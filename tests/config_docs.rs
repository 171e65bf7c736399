//! docs/LVS_CF.md carries the key reference generated from the grammar table; this keeps
//! them in sync. Regenerate with `UPDATE_DOCS=1 cargo test -p piranha --test config_docs`.

const BEGIN: &str = "<!-- keys:begin (generated, see tests/config_docs.rs) -->\n";
const END: &str = "<!-- keys:end -->";

#[test]
fn key_reference_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/LVS_CF.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc.find(BEGIN).expect("begin marker") + BEGIN.len();
    let end = doc.find(END).expect("end marker");
    let table = piranha_engine::config::reference_table();
    if doc[start..end] != table {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let new = format!("{}{table}{}", &doc[..start], &doc[end..]);
            std::fs::write(path, new).unwrap();
        } else {
            panic!("docs/LVS_CF.md key table is stale: run with UPDATE_DOCS=1");
        }
    }
}
