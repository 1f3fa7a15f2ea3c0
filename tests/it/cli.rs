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
