//! `GET /presign/{key}` and the `s3gate get` / `s3gate put` client, through
//! the local gateway and the embedded store with SigV4 checking on.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use s3gate::local::gateway::{Gateway, GatewayConfig};

use crate::support::{Fixture, event, sample};

pub const KEY: &str = "test-key-aaaaaaaaaaaaaaaaaaaa";

pub async fn gateway(fx: &Fixture) -> (Gateway, String) {
    let gw = Gateway::start(
        fx.app.clone(),
        GatewayConfig::dev(vec![KEY.into()]),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .expect("gateway");
    let base = format!("http://{}/dev", gw.addr());
    (gw, base)
}

fn presign_event(key: &str, query: &[(&str, &str)]) -> serde_json::Value {
    let mut ev = event("GET", &format!("presign/{key}"));
    let single: serde_json::Map<String, serde_json::Value> = query
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    let multi: serde_json::Map<String, serde_json::Value> = query
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!([v])))
        .collect();
    ev["queryStringParameters"] = single.into();
    ev["multiValueQueryStringParameters"] = multi.into();
    ev
}

#[tokio::test]
async fn presign_answers_url_method_headers_and_expiry() {
    let fx = Fixture::with(&[("allow-write", "true"), ("presign-ttl", "120")]).await;
    let got = fx
        .run(presign_event("partnerimages/67/28/67286576.jpeg", &[]))
        .await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.header("cache-control"), Some("no-store"));
    let v = got.json();
    assert_eq!(v["Method"], "GET");
    assert!(
        v["URL"]
            .as_str()
            .is_some_and(|u| u.contains("X-Amz-Expires=120")),
        "{v}"
    );
    assert!(
        v["ExpiresAt"].as_str().is_some_and(|d| d.ends_with('Z')),
        "{v}"
    );
    let body = reqwest::get(v["URL"].as_str().expect("url"))
        .await
        .expect("GET")
        .bytes()
        .await
        .expect("body");
    assert_eq!(
        body.as_ref(),
        sample("partnerimages/67/28/67286576.jpeg").as_slice()
    );

    let got = fx
        .run(presign_event(
            "uploads/a.png",
            &[
                ("method", "PUT"),
                ("contentLength", "10"),
                ("contentType", "image/png"),
            ],
        ))
        .await;
    let v = got.json();
    assert_eq!(v["Method"], "PUT");
    assert_eq!(
        v["Header"]["content-length"],
        serde_json::json!(["10"]),
        "{v}"
    );
    assert_eq!(
        v["Header"]["content-type"],
        serde_json::json!(["image/png"]),
        "{v}"
    );
    let url = v["URL"].as_str().expect("url").to_string();
    assert!(
        url.contains("content-length%3Bcontent-type%3Bhost"),
        "size and type are signed: {url}"
    );
    let client = reqwest::Client::new();
    // More bytes than signed: refused by the store, nothing written.
    let resp = client
        .put(&url)
        .header("content-type", "image/png")
        .body(vec![1u8; 20])
        .send()
        .await
        .expect("PUT");
    assert_eq!(resp.status(), 403, "a larger upload must be refused");
    let resp = client
        .put(&url)
        .header("content-type", "image/gif")
        .body(vec![1u8; 10])
        .send()
        .await
        .expect("PUT");
    assert_eq!(resp.status(), 403, "another type must be refused");
    assert_eq!(fx.get("uploads/a.png").await.status, 404);
    let resp = client
        .put(&url)
        .header("content-type", "image/png")
        .body(vec![1u8; 10])
        .send()
        .await
        .expect("PUT");
    assert_eq!(resp.status(), 200);
    assert_eq!(fx.get("uploads/a.png").await.body, vec![1u8; 10]);

    let v = fx
        .run(presign_event("uploads/a.png", &[("method", "delete")]))
        .await
        .json();
    assert_eq!(v["Method"], "DELETE");
    assert!(
        client
            .delete(v["URL"].as_str().expect("url"))
            .send()
            .await
            .expect("DELETE")
            .status()
            .is_success()
    );
    assert_eq!(fx.get("uploads/a.png").await.status, 404);
}

#[tokio::test]
async fn presign_refusals() {
    let ro = Fixture::new().await;
    for method in ["PUT", "DELETE"] {
        ro.run(presign_event("uploads/a.png", &[("method", method)]))
            .await
            .assert_error(403, "Forbidden", method);
    }
    let fx = Fixture::with(&[("allow-write", "true")]).await;
    for (query, what) in [
        (vec![("method", "POST")], "method"),
        (
            vec![("method", "PUT"), ("contentLength", "-1")],
            "contentLength",
        ),
        (
            vec![("method", "PUT"), ("contentLength", "6000000000")],
            "contentLength",
        ),
        (
            vec![("method", "PUT"), ("contentType", "image/png\r\nX: y")],
            "contentType",
        ),
        (
            vec![("method", "GET"), ("contentLength", "5")],
            "contentLength",
        ),
    ] {
        let got = fx.run(presign_event("uploads/a.png", &query)).await;
        got.assert_error(400, "BadRequest", &format!("{query:?}"));
        assert!(
            got.json()["message"]
                .as_str()
                .is_some_and(|m| m.contains(what)),
            "{query:?}: names {what}"
        );
    }
    fx.run(presign_event("../etc/passwd", &[]))
        .await
        .assert_error(400, "InvalidKey", "traversal");
    fx.run(presign_event("folder/", &[]))
        .await
        .assert_error(400, "InvalidKey", "folder");
    // Expired and tampered URLs.
    let short = Fixture::with(&[("presign-ttl", "1")]).await;
    let url = short.run(presign_event("icons/logo.png", &[])).await.json()["URL"]
        .as_str()
        .expect("url")
        .to_string();
    assert_eq!(
        reqwest::get(url.replace("logo.png", "logo.svg"))
            .await
            .expect("GET")
            .status(),
        403
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        reqwest::get(&url).await.expect("GET").status(),
        403,
        "expired"
    );
}

/// Runs the CLI and returns (exit ok, stdout, stderr, peak RSS in KiB).
async fn cli(args: &[&str]) -> (bool, Vec<u8>, String, u64) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(args)
        .env_remove("S3GATE_URL")
        .env_remove("S3GATE_API_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("s3gate runs");
    let pid = child.id().expect("pid");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let readers = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut o, mut e) = (Vec::new(), String::new());
        let _ = tokio::join!(stdout.read_to_end(&mut o), stderr.read_to_string(&mut e));
        (o, e)
    });
    // VmHWM only grows: the last reading before exit is the peak.
    let mut peak = 0;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        {
            peak = kb;
        }
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let (out, err) = readers.await.expect("readers");
    (status.success(), out, err, peak)
}

#[tokio::test]
async fn cli_put_then_get_50_mb_streams_with_small_rss() {
    let fx = Fixture::with(&[("allow-write", "true")]).await;
    let (gw, base) = gateway(&fx).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("big.bin");
    let data: Vec<u8> = (0..50 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8)
        .collect();
    std::fs::write(&src, &data).expect("write");
    let s = |p: &Path| p.to_str().expect("utf-8 path").to_string();

    let (ok, _, err, put_rss) = cli(&[
        "put",
        "videos/big.bin",
        &s(&src),
        "--url",
        &base,
        "--api-key",
        KEY,
    ])
    .await;
    assert!(ok, "put failed: {err}");
    let stored = std::fs::read(fx.dir.path().join("images/videos/big.bin")).expect("stored file");
    assert!(stored == data, "stored bytes differ");

    let dst = dir.path().join("back.bin");
    let (ok, _, err, get_rss) = cli(&[
        "get",
        "videos/big.bin",
        "-o",
        &s(&dst),
        "--url",
        &base,
        "--api-key",
        KEY,
    ])
    .await;
    assert!(ok, "get failed: {err}");
    assert!(
        std::fs::read(&dst).expect("read") == data,
        "downloaded bytes differ"
    );
    // The same CLI moving a 564-byte file: its baseline (code, runtime, TLS).
    let small = dir.path().join("small.png");
    let (ok, _, err, base_rss) = cli(&[
        "get",
        "icons/logo.png",
        "-o",
        &s(&small),
        "--url",
        &base,
        "--api-key",
        KEY,
    ])
    .await;
    assert!(ok, "{err}");
    eprintln!(
        "s3gate 50 MiB: put peak RSS {put_rss} KiB, get {get_rss} KiB; 564-byte get {base_rss} KiB"
    );
    for (what, rss) in [("put", put_rss), ("get", get_rss)] {
        assert!(rss > 0 && base_rss > 0, "{what}: no RSS reading");
        assert!(
            rss < base_rss + 8 * 1024,
            "{what}: peak RSS {rss} KiB grew more than 8 MiB over the {base_rss} KiB baseline for a 50 MiB file"
        );
    }

    // stdout mode.
    let (ok, out, err, _) = cli(&["get", "icons/logo.png", "--url", &base, "--api-key", KEY]).await;
    assert!(ok, "{err}");
    assert_eq!(out, sample("icons/logo.png"));
    gw.shutdown().await;
}

#[tokio::test]
async fn cli_errors_are_clear_and_leave_no_partial_file() {
    let fx = Fixture::new().await;
    let (gw, base) = gateway(&fx).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("out.bin");
    let t = target.to_str().expect("path");
    for (args, needle) in [
        (
            vec!["get", "nope.bin", "-o", t, "--url", &base, "--api-key", KEY],
            "no object",
        ),
        (
            vec![
                "get",
                "icons/logo.png",
                "-o",
                t,
                "--url",
                &base,
                "--api-key",
                "wrong-key-xxxxxxxxxxxxxxxx",
            ],
            "--api-key",
        ),
        (
            vec![
                "get",
                "icons/logo.png",
                "-o",
                t,
                "--url",
                "http://127.0.0.1:9/dev",
                "--api-key",
                KEY,
            ],
            "cannot reach",
        ),
        (
            vec!["get", "icons/logo.png", "-o", t, "--api-key", KEY],
            "--url",
        ),
        (
            vec![
                "put",
                "uploads/x.png",
                "/no/such/file",
                "--url",
                &base,
                "--api-key",
                KEY,
            ],
            "/no/such/file",
        ),
        (
            vec![
                "put",
                "uploads/x.png",
                "Cargo.toml",
                "--url",
                &base,
                "--api-key",
                KEY,
            ],
            "writes are not enabled",
        ),
    ] {
        let (ok, _, err, _) = cli(&args).await;
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
        assert!(!target.exists(), "{args:?} left {}", target.display());
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "a partial file was left behind"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_download_cut_short_leaves_no_file() {
    // A stand-in API whose presign points at a "store" that announces 1000
    // bytes and sends 10: the client must fail and keep nothing.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let store = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let store_addr = store.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = store.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789")
                .await;
        }
    });
    let api = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api_addr = api.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = api.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let body = format!(
                r#"{{"URL":"http://{store_addr}/x","Method":"GET","Header":{{}},"ExpiresAt":"2030-01-01T00:00:00Z"}}"#
            );
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("cut.bin");
    let base = format!("http://{api_addr}/dev");
    let (ok, _, err, _) = cli(&[
        "get",
        "x",
        "-o",
        target.to_str().expect("p"),
        "--url",
        &base,
        "--api-key",
        KEY,
    ])
    .await;
    assert!(!ok, "a cut download succeeded");
    assert!(
        err.contains("interrupted") || err.contains("ended after"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "a partial file was left behind"
    );
}

/// A presigned URL is served by S3, without s3gate's CSP: it is signed
/// with the type s3gate decided (`response-content-type`), and anything but
/// a plain image, video or audio type as a download
/// (`response-content-disposition=attachment`), on the presign route (type
/// by extension; unknown → octet-stream) and on the redirect over the
/// inline limit (the stored type, checked). The signed parameters cannot be
/// dropped without breaking the signature.
#[tokio::test]
async fn presigned_urls_for_scriptable_types_are_downloads() {
    let fx = Fixture::with(&[("inline-limit", "100")]).await;
    let url_of =
        |w: &crate::support::Wire| w.json()["URL"].as_str().map(str::to_string).expect("URL");
    let svg = url_of(&fx.run(presign_event("icons/logo.svg", &[])).await);
    assert!(
        svg.contains("response-content-disposition=attachment"),
        "{svg}"
    );
    assert!(
        svg.contains("response-content-type=image%2Fsvg%2Bxml"),
        "{svg}"
    );
    let png = url_of(&fx.run(presign_event("icons/logo.png", &[])).await);
    assert!(!png.contains("response-content-disposition"), "{png}");
    assert!(png.contains("response-content-type=image%2Fpng"), "{png}");
    let odd = url_of(&fx.run(presign_event("notes/readme", &[])).await);
    assert!(
        odd.contains("response-content-disposition=attachment"),
        "{odd}"
    );
    assert!(
        odd.contains("response-content-type=application%2Foctet-stream"),
        "{odd}"
    );

    // Over the inline limit (100 bytes here): the 307's Location.
    let redirect = fx.get("icons/logo.svg").await;
    assert_eq!(redirect.status, 307, "{redirect:?}");
    let location = redirect.header("location").expect("location").to_string();
    assert!(
        location.contains("response-content-disposition=attachment"),
        "{location}"
    );
    let ok = reqwest::get(&location).await.expect("GET");
    assert_eq!(ok.status(), 200);
    let stripped = location.replace("response-content-disposition=attachment&", "");
    assert_ne!(stripped, location);
    let refused = reqwest::get(&stripped).await.expect("GET");
    assert_eq!(refused.status(), 403, "the parameter is signed");
    // A page stored under an image name keeps its stored type, as a
    // download.
    fx.put("uploads/trick.png", vec![b'<'; 300], Some("text/html"))
        .await;
    let trick = fx.get("uploads/trick.png").await;
    let location = trick.header("location").expect("location");
    assert!(
        location.contains("response-content-type=text%2Fhtml"),
        "{location}"
    );
    assert!(
        location.contains("response-content-disposition=attachment"),
        "{location}"
    );
    let image = fx.get("icons/logo.png").await;
    let location = image.header("location").expect("location");
    assert!(
        !location.contains("response-content-disposition"),
        "{location}"
    );
}
