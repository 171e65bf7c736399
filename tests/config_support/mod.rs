//! What the lvs.cf corpus snapshot tests (config_corpus, config_compat) share.

use piranha_engine::config::{format, Diagnostics, Parsed};

/// One file's snapshot text. Accepted (`accept` says it must be): its warnings, `---`, and
/// its canonical form, which must parse back with `reparse` to the same meaning and be a
/// fixed point of the writer. Refused (`accept` says it must not be): every diagnostic.
pub fn snapshot(
    name: &str,
    result: Result<Parsed, Diagnostics>,
    accept: bool,
    reparse: impl Fn(&[u8]) -> Result<Parsed, Diagnostics>,
) -> String {
    match result {
        Ok(parsed) => {
            assert!(accept, "{name} should be refused");
            let text = format(&parsed.config);
            let again = reparse(text.as_bytes())
                .unwrap_or_else(|e| panic!("{name}: the canonical form does not parse:\n{e}"));
            assert_eq!(
                again.config, parsed.config,
                "{name}: meaning changed by fmt"
            );
            assert_eq!(
                format(&again.config),
                text,
                "{name}: fmt is not a fixed point"
            );
            let mut out = String::new();
            for w in &parsed.warnings {
                out.push_str(&format!("{w}\n"));
            }
            out.push_str("---\n");
            out.push_str(&text);
            out
        }
        Err(diags) => {
            assert!(!accept, "{name} should be accepted:\n{diags}");
            diags.to_string()
        }
    }
}
