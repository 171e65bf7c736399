//! The `piranha` binary: exit codes and output of check / config fmt / config json.

use std::process::{Command, Output};

fn piranha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_piranha"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run piranha")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}
fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn check_ok_prints_a_summary() {
    let o = piranha(&["check", "-c", "examples/lvs.cf"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "examples/lvs.cf: ok: 2 virtual servers, 5 real servers, network nat\n"
    );
    assert_eq!(stderr(&o), "");
}

#[test]
fn check_long_option_and_warnings_on_stderr() {
    let o = piranha(&["check", "--config", "tests/corpus/gui_two_routers.cf"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        "tests/corpus/gui_two_routers.cf: ok: 2 virtual servers, 3 real servers, network nat\n"
    );
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err.starts_with("tests/corpus/gui_two_routers.cf:8:1: warning: `heartbeat` is ignored"));
}

#[test]
fn check_fos_summary() {
    let o = piranha(&["check", "-c", "tests/corpus/fos.cf"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        "tests/corpus/fos.cf: ok: service fos, 2 failover services\n"
    );
}

#[test]
fn check_invalid_lists_every_error_and_exits_1() {
    let o = piranha(&["check", "-c", "tests/corpus/bad_values.cf"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 16, "{err}");
    assert_eq!(
        lines[0],
        "tests/corpus/bad_values.cf:1:11: error: primary: expected an IPv4 or IPv6 address (or a host name), found `10.0.0.300`"
    );
    assert_eq!(
        lines[15],
        "tests/corpus/bad_values.cf: 14 errors and 1 warning: not accepted"
    );
}

#[test]
fn missing_file_exits_1() {
    let o = piranha(&["check", "-c", "tests/corpus/does-not-exist.cf"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("piranha: cannot read tests/corpus/does-not-exist.cf: "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn fmt_prints_the_canonical_form() {
    let o = piranha(&["config", "fmt", "-c", "tests/corpus/hand_written_crlf.cf"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.starts_with("# lvs.cf for the shop, maintained by hand\n# (both routers have the same copy)\nserial_no = 7\n"), "{out}");
    assert!(!out.contains('\r'));
    assert!(out.contains("\n         weight = 32\n"));
    // The example is already canonical.
    let o = piranha(&["config", "fmt", "-c", "examples/lvs.cf"]);
    assert_eq!(
        stdout(&o),
        std::fs::read_to_string("examples/lvs.cf").unwrap()
    );
}

#[test]
fn fmt_of_invalid_exits_1_with_nothing_on_stdout() {
    let o = piranha(&["config", "fmt", "-c", "tests/corpus/bad_syntax.cf"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("bad_syntax.cf:2:11: error:"));
}

#[test]
fn json_is_the_model() {
    let o = piranha(&["config", "json", "-c", "examples/lvs.cf"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["primary"], "192.168.26.9");
    assert_eq!(v["keepalive"], 6);
    assert_eq!(v["network"], "nat");
    assert_eq!(v["nat_router"]["device"], "eth1:1");
    assert_eq!(v["virtuals"][0]["name"], "http");
    assert_eq!(v["virtuals"][0]["send"], "GET / HTTP/1.0\r\n\r\n");
    assert_eq!(v["virtuals"][0]["scheduler"], "wlc");
    assert_eq!(v["virtuals"][0]["servers"][1]["weight"], 2);
    assert_eq!(v["virtuals"][1]["port"], 443);
    // Stable key order: the model's field order.
    let text = stdout(&o);
    let (a, b) = (
        text.find("\"serial_no\"").unwrap(),
        text.find("\"primary\"").unwrap(),
    );
    assert!(a < b);
    let o = piranha(&["config", "json", "-c", "tests/corpus/new_keys.cf"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["keepalive"], 0.1);
    assert_eq!(v["arbiter"], "10.0.0.254:5390");
    assert_eq!(
        v["virtuals"][0]["scheduler_flags"],
        serde_json::json!(["mh-port"])
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(piranha(&[]).status.code(), Some(2));
    assert_eq!(piranha(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(piranha(&["check", "--bogus"]).status.code(), Some(2));
    assert_eq!(piranha(&["config"]).status.code(), Some(2));
}

#[test]
fn help_and_version() {
    let o = piranha(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("check"), "{out}");
    assert!(out.contains("piranha check -c examples/lvs.cf"), "{out}");
    let o = piranha(&["check", "--help"]);
    assert!(stdout(&o).contains("/etc/sysconfig/ha/lvs.cf"));
    let o = piranha(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        format!("piranha {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// A file still being written (no `primary`, a virtual without `address`): `config fmt`
/// rewrites it (with warnings), `check` refuses it.
#[test]
fn an_incomplete_file_formats_but_does_not_check() {
    let dir = std::env::temp_dir().join(format!("piranha-compat-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("incomplete.cf");
    std::fs::write(
        &file,
        "keepalive = 6\ndeadtime = 18\nvirtual web {\n     port = 80\n}\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let o = piranha(&["config", "fmt", "-c", path]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("virtual web {\n"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("warning: `primary` is required"),
        "{}",
        stderr(&o)
    );
    let o = piranha(&["check", "-c", path]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains(":1:1: error: `primary` is required"), "{err}");
    assert!(
        err.contains("(the file is incomplete: a director cannot run it)"),
        "{err}"
    );
    // Host names: check resolves them (localhost always does); the simulator refuses them.
    std::fs::write(&file, "primary = localhost\nvirtual web {\n     active = 1\n     address = 192.168.55.10 eth0:1\n     server s {\n         address = localhost\n         active = 1\n     }\n}\n").unwrap();
    let o = piranha(&["check", "-c", path]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = piranha(&["sim", "-c", path, "--seed", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the simulator needs literal IP addresses, not host names"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}
