//! The `s3gate` command line: its subcommands and their flags, each flag
//! built by `crate::config` (so its environment variable is read there).
//! `serve` and the backend of `serve`/`invoke` have files of their own;
//! `get` and `put` are the client side of presigned transfers.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgMatches, Command};

use super::backend::{self, Backend};
use super::error::CliError;
use super::serve::{self, say};
use crate::config::{ResponseMode, flags};
use crate::lambda::event::ProxyEvent;
use tokio::io::AsyncWriteExt;

pub fn command() -> Command {
    Command::new("s3gate")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Serve S3 objects through API Gateway and Lambda, or locally with no AWS account")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(serve::command())
        .subcommand(client_args(
            Command::new("get")
                .about("Download an object through a presigned URL from the API (streamed; stdout without -o)")
                .arg(Arg::new("key").required_unless_present("id").conflicts_with("id").help("object key, as in the API's URLs"))
                .arg(Arg::new("id").long("id").value_name("ID").help("an opaque object id (from GET /id/{key}) instead of a key"))
                .arg(Arg::new("output").short('o').long("output").value_name("FILE").help("write here instead of stdout")),
        ))
        .subcommand(client_args(
            Command::new("put")
                .about("Upload a file through a presigned URL from the API (streamed; size and type signed)")
                .arg(Arg::new("key").required(true).help("object key, as in the API's URLs"))
                .arg(Arg::new("file").required(true).value_name("FILE"))
                .arg(Arg::new("content-type").long("content-type").value_name("TYPE").help("media type [default: by extension]")),
        ))
        .subcommand(
            Command::new("sign")
                .about("Sign a transform URL's parameters with the API's signing secret; prints the query string to use")
                .arg(Arg::new("key").required(true).help("the path after the stage, as the signature covers it: the object key (e.g. partnerimages/67/28/67286576.jpeg), {bucket}/{key} in bucket mode, or o/{id}"))
                .arg(Arg::new("params").required(true).value_name("QUERY").help("transform parameters, e.g. 'w=800&format=webp'"))
                .arg(
                    Arg::new("expires")
                        .long("expires")
                        .value_name("SECONDS")
                        .value_parser(clap::value_parser!(u64))
                        .help("the URL stops working this many seconds from now"),
                )
                .args(flags::named("signing-secret")),
        )
        .subcommand(backend::args(
            Command::new("invoke")
                .about("Run the Lambda handler once on an API Gateway event file and print the response JSON (in stream mode, the prelude)")
                .arg(Arg::new("event").value_name("EVENT.json").required(true).help("API Gateway REST proxy event"))
                .arg(Arg::new("body").long("body").value_name("FILE").help("stream mode: write the streamed body here (`-`: stdout, after the prelude)")),
        ))
}

/// Where the API is and the key to call it with.
fn client_args(cmd: Command) -> Command {
    cmd.arg(flags::url()).arg(flags::api_key())
}

fn remote(m: &ArgMatches) -> Result<crate::local::client::Remote, CliError> {
    let url = m
        .get_one::<String>("url")
        .cloned()
        .ok_or_else(|| CliError::Input("no API URL: pass --url or set S3GATE_URL".to_string()))?;
    let key = m.get_one::<String>("api-key").cloned().unwrap_or_default();
    crate::local::client::Remote::new(&url, &key)
}

async fn get(m: &ArgMatches) -> Result<(), CliError> {
    let out = m.get_one::<String>("output").map(PathBuf::from);
    let (n, named) = match m.get_one::<String>("id") {
        Some(id) => (
            remote(m)?.get_id(id, out.as_deref()).await?,
            "id".to_string(),
        ),
        None => {
            let key = m.get_one::<String>("key").cloned().unwrap_or_default();
            (remote(m)?.get(&key, out.as_deref()).await?, key)
        }
    };
    if let Some(path) = out {
        eprintln!("s3gate: {named} -> {} ({n} bytes)", path.display());
    }
    Ok(())
}

async fn put(m: &ArgMatches) -> Result<(), CliError> {
    let key = m.get_one::<String>("key").cloned().unwrap_or_default();
    let file = m
        .get_one::<String>("file")
        .map(PathBuf::from)
        .unwrap_or_default();
    let content_type = m.get_one::<String>("content-type").cloned();
    let n = remote(m)?.put(&key, &file, content_type.as_deref()).await?;
    eprintln!("s3gate: {} -> {key} ({n} bytes)", file.display());
    Ok(())
}

/// Runs the command line; returns the process exit code.
pub async fn run(args: impl IntoIterator<Item = OsString>) -> Result<(), CliError> {
    let matches = command()
        .try_get_matches_from(args)
        .map_err(CliError::Usage)?;
    match matches.subcommand() {
        Some(("invoke", m)) => invoke(m).await,
        Some(("serve", m)) => serve::run(m).await,
        Some(("get", m)) => get(m).await,
        Some(("put", m)) => put(m).await,
        Some(("sign", m)) => sign(m),
        _ => Ok(()),
    }
}

/// `s3gate sign KEY 'w=800&format=webp' [--expires SECONDS]`.
fn sign(m: &ArgMatches) -> Result<(), CliError> {
    use crate::transform::sign;
    let secret = m
        .get_one::<String>("signing-secret")
        .cloned()
        .unwrap_or_default();
    if secret.len() < sign::MIN_SECRET_LEN {
        return Err(CliError::Input(format!(
            "--signing-secret (or S3GATE_SIGNING_SECRET) must hold the API's signing secret (at least {} bytes)",
            sign::MIN_SECRET_LEN
        )));
    }
    let key = m.get_one::<String>("key").cloned().unwrap_or_default();
    let key = key.trim_start_matches('/').to_string();
    // A signature for a key the API refuses would never be used.
    crate::local::client::check_key(&key)?;
    let raw = m.get_one::<String>("params").cloned().unwrap_or_default();
    // Decoded as the local gateway decodes a query (`+` a space).
    let mut params: Vec<(String, String)> =
        form_urlencoded::parse(raw.trim_start_matches('?').as_bytes())
            .filter(|(k, _)| k != "sig" && k != "expires")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    if let Some(secs) = m.get_one::<u64>("expires") {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        params.push(("expires".to_string(), (now + secs).to_string()));
    }
    let sig = sign::sign(
        secret.as_bytes(),
        &key,
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    params.push(("sig".to_string(), sig));
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", sign::encode(k), sign::encode(v)))
        .collect();
    say(&query.join("&"));
    Ok(())
}

async fn invoke(m: &ArgMatches) -> Result<(), CliError> {
    let path = m.get_one::<String>("event").cloned().unwrap_or_default();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Io(format!("reading event file {path:?}"), e))?;
    let event = ProxyEvent::from_slice(text.as_bytes())
        .map_err(|e| CliError::Input(format!("event file {path:?}: {e}")))?;
    let backend = Backend::from_matches(m, &[]).await?;
    let target = m.get_one::<String>("body").cloned();
    if target.is_some() && backend.app.config.response_mode == ResponseMode::Buffered {
        return Err(CliError::Input(
            "--body is for stream mode (--response-mode stream); a buffered answer's body is in the response JSON".into(),
        ));
    }
    // The same file only when both exist and resolve alike (an event read
    // from a pipe has no path to compare).
    let same_file = |t: &str| match (std::fs::canonicalize(t), std::fs::canonicalize(&path)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if let Some(t) = target.as_deref().filter(|t| *t != "-" && same_file(t)) {
        return Err(CliError::Input(format!(
            "--body {t:?} is the event file; name another file"
        )));
    }
    if backend.app.config.response_mode == ResponseMode::Buffered {
        say(&backend.app.handle_event(event).await.to_json());
        return Ok(());
    }
    // What `sam local invoke` shows of a streamed answer: the prelude, then
    // the body, which goes where --body says.
    let mut answer = backend.app.answer(event, None).await;
    say(&answer.take_prelude());
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match target.as_deref() {
        Some("-") => Box::new(tokio::io::stdout()),
        Some(path) => Box::new(
            tokio::fs::File::create(path)
                .await
                .map_err(|e| CliError::Io(format!("creating {path}"), e))?,
        ),
        None => Box::new(tokio::io::sink()),
    };
    let mut written = 0u64;
    let write = |e| CliError::Io("writing the body".to_string(), e);
    match answer.stream {
        Some(opened) => {
            let mut chunks = opened.into_chunks();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| {
                    CliError::Input(format!(
                        "the body failed after {written} bytes (in Lambda: the error trailers, the stream cut): {e:?}"
                    ))
                })?;
                out.write_all(&chunk).await.map_err(write)?;
                written += chunk.len() as u64;
            }
        }
        None => {
            out.write_all(answer.response.body_bytes())
                .await
                .map_err(write)?;
            written = answer.response.body_bytes().len() as u64;
        }
    }
    out.flush().await.map_err(write)?;
    if target.is_none() {
        eprintln!(
            "s3gate: body of {written} bytes not written (pass --body FILE, or --body - for stdout)"
        );
    }
    Ok(())
}
