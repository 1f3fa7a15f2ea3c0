//! `s3gate invoke` as a real process: the README's command, its output, its
//! logs and its errors.

use std::process::{Command, Output};

use crate::support::{repo, sample, wire_from_json};

fn s3gate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3gate"));
    cmd.args(args).current_dir(repo());
    for var in ["RUST_LOG", "AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("s3gate runs")
}

#[test]
fn invoke_prints_the_lambda_response() {
    let out = s3gate(&["invoke", "events/get-object.json"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let wire = wire_from_json(&stdout);
    assert_eq!(wire.status, 200);
    assert!(wire.base64);
    assert_eq!(wire.body, sample("partnerimages/67/28/67286576.jpeg"));
    assert_eq!(wire.header("content-type"), Some("image/jpeg"));
}

#[test]
fn json_logs_have_the_fields_and_never_the_api_key() {
    let out = s3gate(
        &["invoke", "events/get-object.json"],
        &[("AWS_LAMBDA_LOG_FORMAT", "JSON")],
    );
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    let line = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "request")
        .unwrap_or_else(|| panic!("no JSON request log line in {stderr}"));
    assert_eq!(
        line["request_id"], "c6af9ac6-7b61-11e6-9a41-93e8deadb001",
        "{line}"
    );
    assert_eq!(line["key"], "partnerimages/67/28/67286576.jpeg", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["bytes"], 1792, "{line}");
    assert!(line["duration_ms"].is_number(), "{line}");
    assert!(
        !stderr.contains("dev-example-key-0123456789abcdef"),
        "API key value in logs: {stderr}"
    );
}

/// The request lines of a run's stderr, parsed.
fn request_lines(stderr: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "request" || v["message"] == "storage failure")
        .collect()
}

#[test]
fn metrics_ride_in_the_one_log_line_as_emf() {
    let out = s3gate(
        &["invoke", "events/get-object.json"],
        &[("AWS_LAMBDA_LOG_FORMAT", "JSON")],
    );
    assert!(out.status.success());
    let lines = request_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "one line per request: {lines:?}");
    let line = &lines[0];
    println!("EMF line: {line}");
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "s3gate", "{line}");
    assert!(line["_aws"]["Timestamp"].is_u64(), "{line}");
    for set in directive["Dimensions"].as_array().expect("dimension sets") {
        for name in set.as_array().expect("set") {
            assert!(
                line[name.as_str().expect("name")].is_string(),
                "{name}: {line}"
            );
        }
    }
    let names: Vec<&str> = directive["Metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| m["Name"].as_str().expect("name"))
        .collect();
    for name in [
        "Requests",
        "Latency",
        "StorageLatency",
        "BytesOut",
        "ColdStart",
    ] {
        assert!(names.contains(&name), "{name} missing: {line}");
        assert!(line[name].is_number(), "{name}: {line}");
    }
    assert_eq!(line["Stage"], "dev");
    assert_eq!(line["Route"], "object");
    assert_eq!(line["StatusClass"], "2xx");
    assert_eq!(line["BytesOut"], 1792);
    assert_eq!(line["ColdStart"], 1, "invoke is a fresh process");
    assert!(line["StorageLatency"].as_f64().expect("ms") > 0.0, "{line}");
    assert!(
        line["StorageLatency"].as_f64() <= line["Latency"].as_f64(),
        "{line}"
    );

    // RUST_LOG cannot drop them by accident.
    let quiet = s3gate(
        &["invoke", "events/get-object.json"],
        &[("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("RUST_LOG", "error")],
    );
    let lines = request_lines(&quiet.stderr);
    assert_eq!(lines.len(), 1, "{}", String::from_utf8_lossy(&quiet.stderr));
    assert!(lines[0]["_aws"].is_object());

    // The setting can, and then RUST_LOG decides again.
    let off = s3gate(
        &["invoke", "events/get-object.json", "--metrics=false"],
        &[("AWS_LAMBDA_LOG_FORMAT", "JSON")],
    );
    let lines = request_lines(&off.stderr);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].get("_aws").is_none(), "{}", lines[0]);
    let off_quiet = s3gate(
        &["invoke", "events/get-object.json"],
        &[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("RUST_LOG", "error"),
            ("S3GATE_METRICS", "false"),
        ],
    );
    assert!(request_lines(&off_quiet.stderr).is_empty());

    // A transform reports its time; a refused key its route, bounded.
    let transform = s3gate(
        &["invoke", "events/transform.json"],
        &[("AWS_LAMBDA_LOG_FORMAT", "JSON")],
    );
    let line = &request_lines(&transform.stderr)[0];
    assert_eq!(line["Route"], "transform");
    assert!(line["TransformTime"].as_f64().expect("ms") > 0.0, "{line}");
    let bad = s3gate(
        &["invoke", "events/bad-key.json"],
        &[("AWS_LAMBDA_LOG_FORMAT", "JSON")],
    );
    let line = &request_lines(&bad.stderr)[0];
    assert_eq!(
        (&line["Route"], &line["StatusClass"]),
        (&"refused".into(), &"4xx".into())
    );
    // The JSON s3gate writes itself counts as bytes out.
    let wire = wire_from_json(&String::from_utf8_lossy(&bad.stdout));
    assert!(!wire.body.is_empty());
    assert_eq!(line["BytesOut"], wire.body.len(), "{line}");
    assert_eq!(line["bytes"], wire.body.len(), "{line}");
}

#[test]
fn invoke_against_another_endpoint_and_bucket() {
    // --endpoint-url with nothing there: the handler still answers, with a 502.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("a")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = s3gate(
        &[
            "invoke",
            "events/get-object.json",
            "--endpoint-url",
            &url,
            "--bucket",
            "other",
            "--s3-timeout",
            "1",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "x"),
            ("AWS_SECRET_ACCESS_KEY", "y"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wire = wire_from_json(&String::from_utf8_lossy(&out.stdout));
    wire.assert_error(502, "BadGateway", "nothing at --endpoint-url");
}

#[test]
fn boolean_settings_take_the_bare_flag() {
    for flag in [
        "--force-path-style",
        "--allow-list",
        "--allow-write=false",
        "--require-api-key=true",
    ] {
        let out = s3gate(&["invoke", "events/get-object.json", flag], &[]);
        assert!(
            out.status.success(),
            "{flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = s3gate(&["invoke", "events/list.json", "--allow-list"], &[]);
    assert!(
        wire_from_json(&String::from_utf8_lossy(&out.stdout)).status == 200,
        "bare --allow-list turns listing on"
    );
}

#[test]
fn bad_settings_are_all_reported_and_exit_2() {
    let out = s3gate(
        &[
            "invoke",
            "events/get-object.json",
            "--inline-limit",
            "huge",
            "--large-objects",
            "maybe",
        ],
        &[("S3GATE_PRESIGN_TTL", "-5")],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in ["huge", "maybe", "-5"] {
        assert!(stderr.contains(needle), "{needle} not reported: {stderr}");
    }
}

#[test]
fn bad_event_files_exit_2_with_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{not json").expect("write");
    let out = s3gate(&["invoke", bad.to_str().expect("path")], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an API Gateway proxy event"));
    let out = s3gate(&["invoke", "events/does-not-exist.json"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist.json"));
}

/// `--help` shows each setting's default and never a secret's value, even
/// when its variable is set (a new user's walk through the README found
/// `sign --help` printing the signing secret).
#[test]
fn help_shows_defaults_and_hides_secrets() {
    let signing = "signing-secret-value-0123456789abcdefXYZ";
    let ids = "id-secret-value-0123456789abcdefghijkXYZ";
    let key = "api-key-value-0123456789abcdefXYZ";
    let env = [
        ("S3GATE_SIGNING_SECRET", signing),
        ("S3GATE_ID_SECRET", ids),
        ("S3GATE_API_KEY", key),
        ("S3GATE_ADMIN_API_KEY", key),
    ];
    for command in ["serve", "invoke", "sign", "get", "put"] {
        let out = s3gate(&[command, "--help"], &env);
        assert!(out.status.success(), "{command} --help: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for secret in [signing, ids, key] {
            assert!(
                !text.contains(secret),
                "{command} --help shows a secret: {text}"
            );
        }
        if command == "serve" {
            assert!(
                text.contains("[default: 10]"),
                "s3-timeout's default: {text}"
            );
            assert!(text.contains("[default: public, max-age=86400]"), "{text}");
        }
    }
}
