//! `piranha man --dir DIR` (hidden): write the manual pages. piranha(8) and one
//! piranha-SUBCOMMAND(8) page per subcommand come from the clap definitions (clap_mangen);
//! lvs.cf(5) comes from the key table the parser itself uses
//! ([`piranha_engine::config::key_docs`]), so a new key is documented the moment it parses.
//! The Debian package build (contrib/deb-test.sh) runs this; nothing is checked in.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory as _;
use piranha_engine::config::{key_docs, DEFAULT_PATH};

/// Write piranha.8, piranha-*.8 and lvs.cf.5 into a directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the pages (created if missing).
    #[arg(long, value_name = "DIR", default_value = "man")]
    dir: PathBuf,
}

impl Args {
    /// Write every page; print each path.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        for path in write_all(&self.dir)? {
            println!("{}", path.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Write every page into `dir`; the paths written.
pub fn write_all(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    let cli = super::Cli::command();
    let mut put = |name: String, bytes: Vec<u8>| -> anyhow::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
        Ok(())
    };
    put("piranha.8".into(), render_command(cli.clone())?)?;
    for sub in subcommands(&cli) {
        let name = sub.get_name().to_string();
        put(format!("{name}.8"), render_command(sub)?)?;
    }
    put("lvs.cf.5".into(), lvs_cf_page().into_bytes())?;
    Ok(written)
}

/// Every visible subcommand, nested ones too, named `piranha-config-fmt` and so on.
fn subcommands(cmd: &clap::Command) -> Vec<clap::Command> {
    let mut out = Vec::new();
    let mut stack: Vec<(String, clap::Command)> = vec![(cmd.get_name().to_string(), cmd.clone())];
    while let Some((prefix, c)) = stack.pop() {
        for sub in c.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name() == "help" {
                continue;
            }
            let name = format!("{prefix}-{}", sub.get_name());
            // clap names are `&'static str` without its `string` feature; a few dozen short
            // names leak once in a command that exits right after.
            let static_name: &'static str = Box::leak(name.clone().into_boxed_str());
            let bin_name: &'static str = Box::leak(name.replace('-', " ").into_boxed_str());
            let renamed = sub.clone().name(static_name).bin_name(bin_name);
            stack.push((name, renamed.clone()));
            out.push(renamed);
        }
    }
    out.sort_by(|a, b| a.get_name().cmp(b.get_name()));
    out
}

fn render_command(cmd: clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .manual("System Manager's Manual")
        .render(&mut bytes)?;
    Ok(bytes)
}

/// Escape text for roff: backslashes, and a leading `.` or `'` that would read as a request.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// lvs.cf(5), generated from the parser's key table.
pub fn lvs_cf_page() -> String {
    let mut out = String::new();
    let mut w = |s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    w(".TH LVS.CF 5 \"\" \"piranha\" \"File Formats Manual\"");
    w(".SH NAME");
    w("lvs.cf \\- configuration of the piranha LVS director (pulse, lvs, nanny)");
    w(".SH SYNOPSIS");
    w(&format!(".B {}", roff(DEFAULT_PATH)));
    w(".SH DESCRIPTION");
    w("The file Red Hat's Piranha and its Configuration Tool read and write, read by");
    w(".BR piranha (8)");
    w("with the same meaning. One statement per line,");
    w(".IR key \" = \" value ;");
    w("blocks");
    w(".BI \"virtual \" NAME \" {\",");
    w(".BI \"server \" NAME \" {\"");
    w("(inside a virtual block) and");
    w(".BI \"failover \" NAME \" {\"");
    w("closed by");
    w(".B }");
    w("on a line of its own. A line starting with # is a comment. Durations are seconds");
    w("(decimals allowed); numbers are read like C's strtol (a leading 0 means octal);");
    w("booleans are 0 or 1.");
    w(".PP");
    w(".B piranha check");
    w("validates a file and reports every problem as FILE:LINE:COL.");
    let docs = key_docs();
    for (block, title) in [
        ("global", "GLOBAL KEYS"),
        ("virtual", "VIRTUAL SERVER KEYS"),
        ("server", "REAL SERVER KEYS (inside virtual)"),
        ("failover", "FAILOVER KEYS (FOS mode)"),
    ] {
        w(&format!(".SH {title}"));
        for k in docs.iter().filter(|k| k.block == block) {
            w(".TP");
            w(&format!(".B {}", roff(k.name)));
            let default = if k.default == "-" {
                "none".to_string()
            } else {
                roff(k.default)
            };
            let ignored = if k.ignored {
                " Accepted and ignored, with a warning."
            } else {
                ""
            };
            w(&format!("{} Default: {default}.{ignored}", roff(k.doc)));
        }
    }
    w(".SH FILES");
    w(&format!(".I {}", roff(DEFAULT_PATH)));
    w(".SH SEE ALSO");
    w(".BR piranha (8),");
    w(".BR ipvsadm (8)");
    out
}
