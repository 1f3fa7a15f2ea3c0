//! `s3gate get` and `s3gate put`: the client side of presigned transfers.
//! Ask the API's `/presign/{key}` (with the API key), then move the bytes
//! straight to or from S3, streaming: the file is never held in memory. A
//! progress bar shows on a terminal only; the size is checked at the end; a
//! failed download leaves no file under the target name.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncWriteExt;

use super::error::CliError;
use crate::limits::MAX_SINGLE_PUT;

/// The API to ask: its base URL (with the stage) and key.
pub struct Remote {
    base: String,
    api_key: String,
    http: reqwest::Client,
}

/// What `/presign` answered.
#[derive(Debug)]
struct Presigned {
    url: String,
    headers: Vec<(String, String)>,
}

use crate::request::encode_key;

/// The presign route of a key.
fn key_route(key: &str) -> String {
    format!("presign/{}", encode_key(key))
}

fn fail(msg: impl Into<String>) -> CliError {
    CliError::Input(msg.into())
}

/// An HTTP failure in words, without the URL it was for: a presigned URL
/// carries its signature, a bearer credential that must not reach a log.
fn why(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

/// Refuses, before any request, a key the API would refuse. A URL library
/// resolves `..` and `.` segments before sending, so `uploads/../x` would
/// otherwise reach the key `x`.
pub fn check_key(key: &str) -> Result<(), CliError> {
    match crate::request::parse_key(key, 0) {
        Ok(crate::request::Target::Object(_)) => Ok(()),
        Ok(_) => Err(fail(format!(
            "key {key:?}: names a folder (it ends with '/'), not an object"
        ))),
        Err(e) => Err(fail(format!("key {key:?}: {e}"))),
    }
}

impl Remote {
    pub fn new(base: &str, api_key: &str) -> Result<Remote, CliError> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(fail(format!(
                "--url {base:?}: expected the API URL, such as http://127.0.0.1:3000/dev"
            )));
        }
        if api_key.is_empty() {
            return Err(fail("no API key: pass --api-key or set S3GATE_API_KEY"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| fail(format!("HTTP client: {e}")))?;
        Ok(Remote {
            base: format!("{}/", base.trim_end_matches('/')),
            api_key: api_key.to_string(),
            http,
        })
    }

    /// Asks the presign route `route` (`presign/{key}`, `presign/o/{id}`).
    async fn presign(
        &self,
        route: &str,
        method: &str,
        extra: &[(&str, String)],
    ) -> Result<Presigned, CliError> {
        let url = format!("{}{route}", self.base);
        let mut query: Vec<(&str, String)> = vec![("method", method.to_string())];
        query.extend(extra.iter().cloned());
        let resp = self
            .http
            .get(&url)
            .query(&query)
            .header("x-api-key", &self.api_key)
            .send()
            .await
            .map_err(|e| fail(format!("cannot reach the API at {}: {}", self.base, why(e))))?;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let message = body["message"].as_str().unwrap_or("").to_string();
        match status {
            200 => {}
            403 if message == "Forbidden" => {
                return Err(fail("the API refused the key (403): check --api-key"));
            }
            403 => return Err(fail(format!("the API refused: {message}"))),
            429 => {
                return Err(fail(format!(
                    "the API's usage plan refused the request (429): {message}"
                )));
            }
            _ => return Err(fail(format!("the API answered {status}: {message}"))),
        }
        let url = body["URL"]
            .as_str()
            .ok_or_else(|| fail("the API's presign answer has no URL"))?
            .to_string();
        let mut headers = Vec::new();
        if let Some(h) = body["Header"].as_object() {
            for (name, values) in h {
                for v in values
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str())
                {
                    headers.push((name.clone(), v.to_string()));
                }
            }
        }
        Ok(Presigned { url, headers })
    }

    /// Downloads `key` to `out` (or stdout).
    pub async fn get(&self, key: &str, out: Option<&Path>) -> Result<u64, CliError> {
        check_key(key)?;
        self.download(&key_route(key), key, out).await
    }

    /// Downloads the object an opaque id names (`/presign/o/{id}`).
    pub async fn get_id(&self, id: &str, out: Option<&Path>) -> Result<u64, CliError> {
        if id.is_empty()
            || id.len() > 2048
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(fail(
                "--id: an object id is letters, digits, '-' and '_' (as GET /id/{key} gives it)",
            ));
        }
        self.download(&format!("presign/o/{id}"), "the object of this id", out)
            .await
    }

    async fn download(&self, route: &str, key: &str, out: Option<&Path>) -> Result<u64, CliError> {
        let p = self.presign(route, "GET", &[]).await?;
        let mut req = self.http.get(&p.url);
        for (k, v) in &p.headers {
            req = req.header(k, v);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| fail(format!("cannot reach S3: {}", why(e))))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(fail(format!("no object at {key:?}"))),
            403 => {
                return Err(fail(
                    "S3 refused the presigned URL (403): it expired or was altered",
                ));
            }
            s => return Err(fail(format!("S3 answered {s}"))),
        }
        let expected = resp.content_length();
        let bar = progress(expected);
        let mut written = 0u64;
        match out {
            Some(path) => {
                let partial = partial_name(path);
                let result = async {
                    let mut file = tokio::fs::File::create(&partial)
                        .await
                        .map_err(|e| CliError::Io(format!("creating {}", partial.display()), e))?;
                    while let Some(chunk) = resp
                        .chunk()
                        .await
                        .map_err(|e| fail(format!("download interrupted: {}", why(e))))?
                    {
                        file.write_all(&chunk).await.map_err(|e| {
                            CliError::Io(format!("writing {}", partial.display()), e)
                        })?;
                        written += chunk.len() as u64;
                        bar.set_position(written);
                    }
                    file.sync_all()
                        .await
                        .map_err(|e| CliError::Io(format!("writing {}", partial.display()), e))?;
                    check_size(expected, written)?;
                    tokio::fs::rename(&partial, path)
                        .await
                        .map_err(|e| CliError::Io(format!("renaming to {}", path.display()), e))
                }
                .await;
                if result.is_err() {
                    let _ = tokio::fs::remove_file(&partial).await;
                }
                result?;
            }
            None => {
                let mut stdout = tokio::io::stdout();
                while let Some(chunk) = resp
                    .chunk()
                    .await
                    .map_err(|e| fail(format!("download interrupted: {}", why(e))))?
                {
                    stdout
                        .write_all(&chunk)
                        .await
                        .map_err(|e| CliError::Io("writing to stdout".into(), e))?;
                    written += chunk.len() as u64;
                    bar.set_position(written);
                }
                stdout
                    .flush()
                    .await
                    .map_err(|e| CliError::Io("writing to stdout".into(), e))?;
                check_size(expected, written)?;
            }
        }
        bar.finish_and_clear();
        Ok(written)
    }

    /// Uploads `file` to `key` on a presigned PUT that signs its size and
    /// type, then checks the stored size through the API.
    pub async fn put(
        &self,
        key: &str,
        file: &Path,
        content_type: Option<&str>,
    ) -> Result<u64, CliError> {
        check_key(key)?;
        let size = tokio::fs::metadata(file)
            .await
            .map_err(|e| CliError::Io(format!("reading {}", file.display()), e))?
            .len();
        if size > MAX_SINGLE_PUT {
            return Err(fail(format!(
                "{} is {size} bytes, over S3's 5 GiB limit for one PUT; s3gate does not do multipart uploads",
                file.display()
            )));
        }
        let content_type = content_type
            .map(str::to_string)
            .or_else(|| crate::media::by_extension(key).map(str::to_string))
            .unwrap_or_else(|| "application/octet-stream".to_string());
        let p = self
            .presign(
                &key_route(key),
                "PUT",
                &[
                    ("contentLength", size.to_string()),
                    ("contentType", content_type.clone()),
                ],
            )
            .await?;
        let handle = tokio::fs::File::open(file)
            .await
            .map_err(|e| CliError::Io(format!("opening {}", file.display()), e))?;
        let bar = progress(Some(size));
        let progress_bar = bar.clone();
        let stream = tokio_util::io::ReaderStream::with_capacity(handle, 256 * 1024);
        let stream = futures_util::StreamExt::inspect(stream, move |chunk| {
            if let Ok(c) = chunk {
                progress_bar.inc(c.len() as u64);
            }
        });
        let mut req = self
            .http
            .put(&p.url)
            .body(reqwest::Body::wrap_stream(stream));
        for (k, v) in &p.headers {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| fail(format!("upload failed: {}", why(e))))?;
        bar.finish_and_clear();
        match resp.status().as_u16() {
            200 => {}
            403 => {
                return Err(fail(
                    "S3 refused the upload (403): the URL expired, or the file changed size while uploading",
                ));
            }
            s => return Err(fail(format!("S3 answered {s} to the upload"))),
        }
        // The size check: ask the store itself (a one-byte ranged GET on a
        // fresh presigned URL), whatever the object's size.
        let stored = self.stored_size(key).await?;
        if stored != size {
            return Err(fail(format!(
                "upload check failed: the store holds {stored} bytes at {key:?}, the file has {size}"
            )));
        }
        Ok(size)
    }
}

impl Remote {
    /// The object's size as the store reports it: `Content-Range: bytes
    /// 0-0/SIZE` on a 206; a 416 to `bytes=0-0` can only mean an empty
    /// object (S3 sends `bytes */0`, some stores nothing).
    async fn stored_size(&self, key: &str) -> Result<u64, CliError> {
        let p = self.presign(&key_route(key), "GET", &[]).await?;
        let mut req = self.http.get(&p.url).header("range", "bytes=0-0");
        for (k, v) in &p.headers {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| fail(format!("cannot reach S3 to check the upload: {}", why(e))))?;
        let range = resp
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let length = resp.content_length();
        match resp.status().as_u16() {
            206 => range
                .and_then(|r| r.rsplit('/').next().and_then(|n| n.parse().ok()))
                .ok_or_else(|| fail("upload check failed: the store sent no Content-Range")),
            416 => Ok(0),
            200 => length.ok_or_else(|| fail("upload check failed: the store sent no length")),
            s => Err(fail(format!("upload check failed: the store answered {s}"))),
        }
    }
}

fn check_size(expected: Option<u64>, written: u64) -> Result<(), CliError> {
    match expected {
        Some(n) if n != written => {
            Err(fail(format!("download ended after {written} of {n} bytes")))
        }
        _ => Ok(()),
    }
}

/// `photo.jpg` -> `.photo.jpg.s3gate-partial` beside it, so the rename at
/// the end stays on one file system.
fn partial_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.s3gate-partial"))
}

fn progress(len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_per_segment() {
        assert_eq!(encode_key("a/b c+d/☀.jpg"), "a/b%20c%2Bd/%E2%98%80.jpg");
        assert_eq!(encode_key("x?y#z%"), "x%3Fy%23z%25");
    }

    #[test]
    fn partial_files_sit_beside_the_target() {
        assert_eq!(
            partial_name(Path::new("/tmp/out/p.jpg")),
            PathBuf::from("/tmp/out/.p.jpg.s3gate-partial")
        );
    }
}
