//! Tests of the form-to-lvs.cf editor.
use super::*;

const BASE: &str = "serial_no = 7\nprimary = 10.0.0.1\nservice = lvs\n\
    virtual web {\n     active = 1\n     address = 10.0.0.10 eth0:1\n     port = 80\n\
    server a {\n         address = 10.0.1.1\n         active = 1\n     }\n}\n";

fn base() -> LvsConfig {
    config::parse("lvs.cf", BASE.as_bytes()).unwrap().config
}

fn vals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn save(page: Page, v: Option<&str>, s: Option<&str>, values: &[(&str, &str)]) -> Edit {
    let cfg = base();
    let mut all = current_values(&cfg, page, v, s);
    all.extend(vals(values));
    Edit::Save {
        page,
        virtual_name: v.map(str::to_string),
        server_name: s.map(str::to_string),
        values: all,
    }
}

#[test]
fn global_save_changes_the_key_and_bumps_serial() {
    let e = save(
        Page::Redundancy,
        None,
        None,
        &[
            ("keepalive", "6"),
            ("deadtime", "18"),
            ("backup", "10.0.0.2"),
        ],
    );
    let text = apply(&base(), &e, "lvs.cf").unwrap();
    let cfg = config::parse("lvs.cf", text.as_bytes()).unwrap().config;
    assert_eq!(cfg.serial_no, 8);
    assert_eq!(cfg.keepalive.as_secs(), 6);
    assert_eq!(cfg.backup, Some("10.0.0.2".parse().unwrap()));
    assert_eq!(cfg.virtuals, base().virtuals);
}

#[test]
fn bad_value_is_reported_on_its_field_with_the_check_message() {
    let e = save(Page::Global, None, None, &[("primary", "10.0.0.300")]);
    let r = apply(&base(), &e, "lvs.cf").unwrap_err();
    assert_eq!(
        r.by_field["primary"],
        vec![
            "error: primary: expected an IPv4 or IPv6 address (or a host name), found `10.0.0.300`"
        ]
    );
    assert!(r.general.is_empty());
}

#[test]
fn new_virtual_and_new_server_are_added() {
    let e = save(
        Page::Virtual,
        None,
        None,
        &[
            ("name", "dns"),
            ("address", "10.0.0.11 eth0:2"),
            ("port", "53"),
            ("protocol", "udp"),
        ],
    );
    let text = apply(&base(), &e, "lvs.cf").unwrap();
    let cfg = config::parse("lvs.cf", text.as_bytes()).unwrap().config;
    assert_eq!(cfg.virtuals.len(), 2);
    assert_eq!(cfg.virtuals[1].port, 53);
    let e = Edit::Save {
        page: Page::Server,
        virtual_name: Some("web".into()),
        server_name: None,
        values: vals(&[
            ("name", "b"),
            ("address", "10.0.1.2"),
            ("weight", "3"),
            ("active", "1"),
            ("port", ""),
        ]),
    };
    let text = apply(&base(), &e, "lvs.cf").unwrap();
    let cfg = config::parse("lvs.cf", text.as_bytes()).unwrap().config;
    assert_eq!(cfg.virtuals[0].servers.len(), 2);
    assert_eq!(cfg.virtuals[0].servers[1].weight, 3);
}

#[test]
fn injection_through_values_is_refused() {
    let e = save(
        Page::Global,
        None,
        None,
        &[("primary", "10.0.0.1\nvirtual x {")],
    );
    let r = apply(&base(), &e, "lvs.cf").unwrap_err();
    assert!(r.by_field.contains_key("primary"));
    let e = save(Page::Virtual, Some("web"), None, &[("name", "<script>")]);
    assert!(apply(&base(), &e, "lvs.cf")
        .unwrap_err()
        .by_field
        .contains_key("name"));
}

#[test]
fn quoted_fields_round_trip() {
    let e = save(
        Page::Scripts,
        Some("web"),
        None,
        &[
            ("send", r#"GET / HTTP/1.0\r\n\r\n"#),
            ("expect", r#"say "hi""#),
        ],
    );
    let text = apply(&base(), &e, "lvs.cf").unwrap();
    let cfg = config::parse("lvs.cf", text.as_bytes()).unwrap().config;
    assert_eq!(
        cfg.virtuals[0].send.as_deref(),
        Some("GET / HTTP/1.0\r\n\r\n")
    );
    assert_eq!(cfg.virtuals[0].expect.as_deref(), Some("say \"hi\""));
    let shown = current_values(&cfg, Page::Scripts, Some("web"), None);
    assert_eq!(shown["send"], r#"GET / HTTP/1.0\r\n\r\n"#);
}

#[test]
fn delete_and_toggle() {
    let t = apply(&base(), &Edit::ToggleServer("web".into(), "a".into()), "f").unwrap();
    let cfg = config::parse("f", t.as_bytes()).unwrap().config;
    assert!(!cfg.virtuals[0].servers[0].active);
    let t = apply(&base(), &Edit::DeleteVirtual("web".into()), "f").unwrap();
    let cfg = config::parse("f", t.as_bytes()).unwrap().config;
    assert!(cfg.virtuals.is_empty());
    assert!(apply(&base(), &Edit::DeleteVirtual("nope".into()), "f").is_err());
}

#[test]
fn missing_keys_are_reported_on_their_field() {
    let e = save(
        Page::Virtual,
        None,
        None,
        &[("name", "port"), ("port", "81")],
    );
    let r = apply(&base(), &e, "lvs.cf").unwrap_err();
    assert_eq!(
        r.by_field["address"],
        vec!["error: virtual server `port` has no `address`: expected `address = VIP DEVICE` (the file is incomplete: a director cannot run it)"]
    );
    assert!(r.general.is_empty() && !r.by_field.contains_key("port"));
    let e = save(Page::Global, None, None, &[("primary", "")]);
    let r = apply(&base(), &e, "lvs.cf").unwrap_err();
    assert!(
        r.by_field["primary"][0].contains("`primary` is required"),
        "{r:?}"
    );
}
