//! The embedded S3-compatible store: `s3s-fs` over a folder (each top folder
//! a bucket), served on a loopback port with SigV4 checking on and credentials
//! made up per run. s3s-fs has no security of its own, so a non-loopback
//! address is refused. Accepted sockets get `TCP_NODELAY` (without it, small
//! responses wait on delayed ACKs: ~28 MB/s instead of ~200 MB/s).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::SocketAddr;
use std::path::Path;

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{Credentials, Region};
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::storage::S3Store;

/// A running store. Dropping it stops the listener and every connection.
#[derive(Debug)]
pub struct EmbeddedStore {
    addr: SocketAddr,
    access_key: String,
    secret_key: String,
    stop: watch::Sender<bool>,
}

impl EmbeddedStore {
    /// Serves `root` on `addr` (port 0 picks a free one) with credentials
    /// made up for this run.
    pub async fn start(root: &Path, addr: SocketAddr) -> io::Result<EmbeddedStore> {
        let access_key = format!("S3GATELOCAL{}", &random_hex()[..9].to_ascii_uppercase());
        let secret_key = format!("{}{}", random_hex(), random_hex());
        Self::start_with_credentials(root, addr, access_key, secret_key).await
    }

    /// Serves `root` on `addr`, accepting only the given credentials.
    pub async fn start_with_credentials(
        root: &Path,
        addr: SocketAddr,
        access_key: String,
        secret_key: String,
    ) -> io::Result<EmbeddedStore> {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "refusing to bind the embedded store to {addr}: it has no security of its own; use a loopback address"
                ),
            ));
        }
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "data folder {:?} does not exist",
                    root.display().to_string()
                ),
            ));
        }
        let fs = s3s_fs::FileSystem::new(root).map_err(|e| io::Error::other(format!("{e:?}")))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(
            access_key.clone(),
            secret_key.clone(),
        ));
        let service = builder.build();

        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(_) => {
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    _ = stopped.changed() => return,
                };
                let _ = socket.set_nodelay(true);
                let service = service.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service);
                    tokio::select! {
                        _ = conn => {}
                        _ = stopped.changed() => {}
                    }
                });
            }
        });
        Ok(EmbeddedStore {
            addr,
            access_key,
            secret_key,
            stop,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn credentials(&self) -> (&str, &str) {
        (&self.access_key, &self.secret_key)
    }

    /// An SDK configuration that reaches this store: its endpoint, its
    /// credentials, a fixed region.
    pub async fn sdk_config(&self, config: &Config) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "s3gate-embedded",
            ))
            .http_client(crate::storage::http_client())
            .timeout_config(crate::storage::timeouts(config.s3_timeout))
            .retry_config(crate::storage::retries(config.s3_timeout))
            .load()
            .await
    }

    /// A store client for this store.
    pub async fn s3_store(&self, config: &Config) -> S3Store {
        S3Store::new(&self.sdk_config(config).await, config)
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// 64 random bits as hex, from the standard library's per-process keys.
fn random_hex() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}
