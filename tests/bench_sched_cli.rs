//! `piranha bench sched`: the table, `--json`, a user's CSV (and its errors with line
//! numbers), the SVG plots, and determinism (same seed, same numbers except decisions/s).

use std::path::PathBuf;
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_piranha"))
        .args(["bench", "sched"])
        .args(args)
        .output()
        .expect("run piranha")
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-sched");
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = bench(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// The JSON without the one figure that depends on the machine.
fn without_speed(mut v: serde_json::Value) -> serde_json::Value {
    for r in v["results"].as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("decisions_per_sec");
    }
    v
}

const SMALL: &[&str] = &["--conns", "3000", "--servers", "6", "--clients", "500"];

#[test]
fn table_lists_every_scheduler_with_its_metrics() {
    let out = bench(SMALL);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("workload: synthetic, 3000 connections"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("sched") && lines[1].contains("max/mean"),
        "{text}"
    );
    let names = [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
        "twos",
    ];
    assert_eq!(lines.len(), 2 + names.len(), "{text}");
    for (line, name) in lines[2..].iter().zip(names) {
        assert_eq!(line.split_whitespace().next(), Some(name), "{text}");
        assert_eq!(
            line.matches('%').count() + line.matches("n/a").count(),
            3,
            "{line}"
        );
    }
}

#[test]
fn json_is_deterministic_for_a_seed() {
    let args = [SMALL, &["--schedulers", "wlc,mh,twos,lblcr", "--seed", "7"]].concat();
    let a = json(&args);
    let b = json(&args);
    assert_eq!(without_speed(a.clone()), without_speed(b));
    let results = a["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        assert_eq!(r["decisions"], 3000);
        assert!(r["decisions_per_sec"].as_f64().unwrap() > 0.0);
        assert!(r["imbalance_max_mean"].as_f64().unwrap() >= 1.0);
        assert_eq!(r["series"].as_array().unwrap().len(), 200);
        for k in ["moved_on_leave", "moved_on_join", "persistence_hits"] {
            let v = r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
            assert!((0.0..=1.0).contains(&v), "{k} = {v}");
        }
    }
    // mh moves few clients when a server leaves; wlc moves most of them.
    assert!(results[1]["moved_on_leave"].as_f64().unwrap() < 0.2, "{a}");
    assert!(results[0]["moved_on_leave"].as_f64().unwrap() > 0.5, "{a}");
    let other = json(&[SMALL, &["--schedulers", "wlc,mh,twos,lblcr", "--seed", "8"]].concat());
    assert_ne!(without_speed(a), without_speed(other));
}

#[test]
fn csv_workload_and_its_errors() {
    let good = tmp("good.csv");
    let mut text = String::from("time,client,duration\n");
    for i in 0..400 {
        text.push_str(&format!("{}.5,10.1.0.{},{}\n", i / 4, i % 41, 1 + i % 9));
    }
    std::fs::write(&good, text).unwrap();
    let csv = [
        "--csv",
        good.to_str().unwrap(),
        "--schedulers",
        "sh,rr",
        "--servers",
        "4",
    ];
    let v = json(&[&csv[..], &["--no-failure"]].concat());
    assert_eq!(v["results"][0]["decisions"], 400);
    assert!(v["workload"]
        .as_str()
        .unwrap()
        .contains("good.csv, 400 connections"));
    // With every server up, sh keeps each returning client on its server; rr does not.
    assert_eq!(v["results"][0]["persistence_hits"], 1.0);
    assert!(v["results"][1]["persistence_hits"].as_f64().unwrap() < 0.5);

    let bad = tmp("bad.csv");
    std::fs::write(&bad, "time,client,duration\n0,a,1\n1,b\n").unwrap();
    let out = bench(&["--csv", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:3: expected 3 fields (time,client,duration), found 2",
            bad.display()
        )),
        "{err}"
    );
    std::fs::write(&bad, "0,a,1\n2,b,1\n1,c,1\n").unwrap();
    let out = bench(&["--csv", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":3: time 1 is before"), "{err}");
}

#[test]
fn svg_plot_per_metric() {
    let dir = tmp("svg");
    let _ = std::fs::remove_dir_all(&dir);
    let out = bench(
        &[
            SMALL,
            &["--schedulers", "rr,wlc,mh", "--svg", dir.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, shape) in [
        ("imbalance-max-mean.svg", "<polyline"),
        ("imbalance-cv.svg", "<polyline"),
        ("decisions-per-second.svg", "<rect x="),
        ("moved-on-leave.svg", "<rect x="),
        ("moved-on-join.svg", "<rect x="),
        ("persistence-hits.svg", "<rect x="),
    ] {
        let svg = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{name}"
        );
        assert!(svg.trim_end().ends_with("</svg>"), "{name}");
        assert_eq!(
            svg.matches(shape).count(),
            3,
            "{name}: one mark per scheduler"
        );
        for s in ["rr", "wlc", "mh"] {
            assert!(svg.contains(&format!(">{s}</text>")), "{name} names {s}");
        }
    }
}
