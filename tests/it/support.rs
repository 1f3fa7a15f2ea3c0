//! Shared test fixtures: a store over a private copy of `sample-data/`, an
//! `App` wired to it, and an event builder based on `events/get-object.json`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use s3gate::local::EmbeddedStore;
use s3gate::{App, Config, ProxyEvent, ProxyResponse};
use serde_json::Value;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample(key: &str) -> Vec<u8> {
    let path = repo().join("sample-data/images").join(key);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A real HTTP client that reports redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A config with the given settings and, unless they name an allowlist
/// (bucket mode), the bucket `images`.
pub fn config(pairs: &[(&str, &str)]) -> Config {
    let bucket_mode = pairs.iter().any(|(k, _)| *k == "buckets");
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| (name == "bucket" && !bucket_mode).then(|| "images".to_string()))
    })
    .expect("test config is valid")
}

/// An embedded store over a fresh copy of `sample-data/`.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    // Kept alive for the test: dropping it stops the store.
    pub _store: EmbeddedStore,
    pub app: App,
}

impl Fixture {
    pub async fn new() -> Fixture {
        Self::with(&[]).await
    }

    pub async fn with(settings: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(&repo().join("sample-data"), dir.path());
        let store = EmbeddedStore::start(dir.path(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("store starts");
        let config = config(settings);
        let app = App::new(config.clone(), store.s3_store(&config).await);
        Fixture {
            dir,
            _store: store,
            app,
        }
    }

    /// Writes an object straight into the store's folder (fast for large
    /// objects; the store serves it with no stored metadata).
    pub fn write(&self, key: &str, bytes: &[u8]) {
        let path = self.dir.path().join("images").join(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Uploads through the real SDK client.
    pub async fn put(&self, key: &str, bytes: Vec<u8>, content_type: Option<&str>) {
        self.app
            .store
            .client()
            .put_object()
            .bucket("images")
            .key(key)
            .set_content_type(content_type.map(str::to_string))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }

    pub async fn get(&self, key: &str) -> Wire {
        self.run(event("GET", key)).await
    }

    /// The answer as it crosses the wire: the response JSON (buffered), or
    /// the prelude and the raw body as they would be streamed.
    pub async fn run(&self, event: Value) -> Wire {
        run_on(&self.app, event).await
    }
}

/// An event through `app`, as it crosses the wire (see [`Fixture::run`]).
pub async fn run_on(app: &App, event: Value) -> Wire {
    let event: ProxyEvent = serde_json::from_value(event).expect("event parses");
    if app.config.response_mode == s3gate::config::ResponseMode::Stream {
        return Wire::streamed(app.answer(event, None).await).await;
    }
    Wire::from(app.handle_event(event).await)
}

/// The base event (`events/get-object.json`) with another method and key,
/// on the resource the template's API would pick: `/presign/{proxy+}` or
/// `/id/{proxy+}` for those routes (the proxy is what follows), else
/// `/{proxy+}`.
pub fn event(method: &str, key: &str) -> Value {
    let mut ev = load_event("get-object.json");
    ev["httpMethod"] = Value::from(method);
    ev["requestContext"]["httpMethod"] = Value::from(method);
    let own = ["presign/", "id/"]
        .into_iter()
        .find(|r| key.starts_with(r) && key.len() > r.len());
    let (resource, proxy) = match own {
        Some(r) => (format!("/{r}{{proxy+}}"), &key[r.len()..]),
        None => ("/{proxy+}".to_string(), key),
    };
    ev["resource"] = Value::from(resource.clone());
    ev["requestContext"]["resourcePath"] = Value::from(resource);
    ev["pathParameters"]["proxy"] = Value::from(proxy);
    ev["path"] = Value::from(format!("/{key}"));
    ev
}

pub fn load_event(name: &str) -> Value {
    let path = repo().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A response as it crosses the wire: serialized to the JSON Lambda sends,
/// parsed back, body base64-decoded as API Gateway does for binary types.
#[derive(Debug)]
pub struct Wire {
    pub status: u16,
    pub headers: serde_json::Map<String, Value>,
    pub multi: serde_json::Map<String, Value>,
    pub body: Vec<u8>,
    pub base64: bool,
}

impl From<ProxyResponse> for Wire {
    fn from(r: ProxyResponse) -> Wire {
        // The JSON the function sends (the fast writer; a unit test holds it
        // equal to serde's).
        let json = r.to_json();
        wire_from_json(&json)
    }
}

pub fn wire_from_json(json: &str) -> Wire {
    let v: Value = serde_json::from_str(json).expect("response is JSON");
    let base64 = v["isBase64Encoded"]
        .as_bool()
        .expect("isBase64Encoded is a bool");
    let body = match v.get("body").and_then(Value::as_str) {
        None => Vec::new(),
        Some(b) if base64 => base64_simd::STANDARD
            .decode_to_vec(b)
            .expect("valid base64"),
        Some(b) => b.as_bytes().to_vec(),
    };
    Wire::from_parts(&v, body, base64)
}

impl Wire {
    /// A streamed answer as API Gateway's STREAM integration reads it: the
    /// prelude's JSON (through serde), then the raw body bytes.
    pub async fn streamed(mut answer: s3gate::handler::Answer) -> Wire {
        let prelude = answer.take_prelude();
        let v: Value = serde_json::from_str(&prelude).expect("the prelude is JSON");
        assert!(!prelude.contains('\0'), "a NUL in the prelude: {prelude}");
        let body = match answer.stream {
            Some(opened) => {
                let mut chunks = opened.into_chunks();
                let mut body = Vec::new();
                while let Some(chunk) = chunks.next().await {
                    body.extend_from_slice(&chunk.expect("the body arrives whole"));
                }
                body
            }
            None => answer.response.body_bytes().to_vec(),
        };
        for (name, value) in v["headers"].as_object().expect("headers") {
            assert!(
                value.is_string(),
                "header {name} is not one string: {value}"
            );
        }
        Wire::from_parts(&v, body, false)
    }

    /// Status and headers from the response JSON or prelude `v`, with the
    /// body as it arrived.
    fn from_parts(v: &Value, body: Vec<u8>, base64: bool) -> Wire {
        Wire {
            status: v["statusCode"].as_u64().expect("statusCode") as u16,
            headers: v["headers"].as_object().cloned().unwrap_or_default(),
            multi: v["multiValueHeaders"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
            body,
            base64,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The `message` of a JSON error body ("" when there is none).
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Checks the error shape every non-2xx answer has.
    pub fn assert_error(&self, status: u16, code: &str, context: &str) {
        assert_eq!(self.status, status, "{context}: {self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{context}"
        );
        assert!(!self.base64, "{context}: an error body is plain JSON");
        let body = self.json();
        assert_eq!(body["code"], code, "{context}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{context}: {body}"
        );
        assert!(body["requestId"].is_string(), "{context}: {body}");
        let text = body.to_string();
        // Bucket mode's own errors are about buckets (and name none).
        let about_buckets = code.contains("Bucket");
        for secret in ["images", "127.0.0.1", "dispatch", "Sdk", "s3s", "bucket"]
            .into_iter()
            .filter(|s| !(about_buckets && *s == "bucket"))
        {
            assert!(
                !text.contains(secret),
                "{context}: error body leaks {secret:?}: {text}"
            );
        }
    }
}

/// An "S3" that answers every request with 503 SlowDown, or never answers.
pub async fn bad_store(slow_down: bool) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = listener.accept().await {
            if slow_down {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
                    let body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
                    let resp = format!(
                        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tokio::io::AsyncWriteExt::write_all(&mut s, resp.as_bytes()).await;
                });
            } else {
                held.push(s);
            }
        }
    });
    (addr, task)
}

/// YAML (template.yaml, openapi.yaml) as JSON, read with saphyr, a
/// maintained pure-Rust YAML 1.2 parser that keeps user tags. A
/// CloudFormation tag becomes its JSON long form, as CloudFormation reads
/// it: `!Ref x` is `{"Ref": "x"}`, `!Sub s` is `{"Fn::Sub": s}` (and so for
/// every `Fn::` function), `!Condition c` is `{"Condition": "c"}`.
/// `!GetAtt X.Arn` keeps its dotted string. Keys are their scalar's text.
pub fn yaml(text: &str) -> Result<Value, String> {
    use saphyr::{LoadableYamlNode, Yaml};
    fn scalar_text(y: &Yaml) -> String {
        match json(y) {
            Value::String(t) => t,
            other => other.to_string(),
        }
    }
    fn json(y: &Yaml) -> Value {
        use saphyr::Scalar;
        match y {
            Yaml::Value(Scalar::Null) => Value::Null,
            Yaml::Value(Scalar::Boolean(b)) => Value::Bool(*b),
            Yaml::Value(Scalar::Integer(i)) => Value::from(*i),
            Yaml::Value(Scalar::FloatingPoint(f)) => Value::from(f.into_inner()),
            Yaml::Value(Scalar::String(s)) => Value::String(s.to_string()),
            Yaml::Representation(s, _, _) => Value::String(s.to_string()),
            Yaml::Sequence(items) => Value::Array(items.iter().map(json).collect()),
            Yaml::Mapping(map) => {
                Value::Object(map.iter().map(|(k, v)| (scalar_text(k), json(v))).collect())
            }
            Yaml::Tagged(tag, node) => {
                let name = match tag.suffix.as_str() {
                    "Ref" | "Condition" => tag.suffix.clone(),
                    other => format!("Fn::{other}"),
                };
                serde_json::json!({ name: json(node) })
            }
            Yaml::Alias(_) | Yaml::BadValue => Value::Null,
        }
    }
    let docs = Yaml::load_from_str(text).map_err(|e| e.to_string())?;
    docs.first()
        .map(json)
        .ok_or_else(|| "no YAML document".to_string())
}

/// One answer over HTTP: status, headers, body.
pub struct Got {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Got {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_string()
    }

    /// The status, and for an error the code and a request id.
    #[track_caller]
    pub fn expect(&self, status: u16, code: Option<&str>, what: &str) {
        assert_eq!(
            self.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&self.body)
        );
        if let Some(code) = code {
            assert_eq!(self.code(), code, "{what}");
            assert!(self.json()["requestId"].is_string(), "{what}");
        }
    }
}

/// One request with an API key (or none), headers and a body, following no
/// redirect.
pub async fn send(
    method: &str,
    url: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Got {
    let mut req = client().request(
        reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
        url,
    );
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b.to_vec());
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    Got {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.expect("body").to_vec(),
    }
}

/// `GET url` with an API key, over real HTTP.
pub async fn keyed_get(
    c: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    key: &str,
) -> reqwest::Response {
    c.get(url)
        .header("x-api-key", key)
        .send()
        .await
        .expect("GET")
}
