//! The embedded S3-compatible store: `s3s-fs` over a folder (each top folder
//! a bucket), served on a loopback port with SigV4 checking on and random
//! credentials made up per run. s3s-fs has no security of its own, so a
//! non-loopback address is refused. Accepted sockets get `TCP_NODELAY`
//! (without it, small responses wait on delayed ACKs: ~28 MB/s instead of
//! ~200 MB/s).
//!
//! Where s3s-fs 0.14 answers differently from S3, [`LocalS3`] sits in front
//! of it and answers as S3 does; each quirk is named there. Anyone holding
//! a presigned URL reaches the store directly, so these are fixed in the
//! store itself, not only in what s3gate sends it.

use std::io;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{Credentials, Region};
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::dto;
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
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
        let access_key = format!("S3GATELOCAL{}", super::random::hex(5)?.to_ascii_uppercase());
        let secret_key = super::random::hex(20)?;
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
        let mut builder = S3ServiceBuilder::new(LocalS3 {
            fs,
            root: root.canonicalize()?,
        });
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
                    // Anyone holding a presigned URL talks to this server:
                    // a client that never finishes its headers is closed.
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(std::time::Duration::from_secs(10))
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
            .http_client(crate::storage::client::http_client())
            .timeout_config(crate::storage::client::timeouts(config.s3_timeout))
            .retry_config(crate::storage::client::retries(config.s3_timeout))
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

/// s3s-fs, answering as S3 does where it does not. Only the operations
/// s3gate and its clients use are served (single-part objects, listings,
/// buckets); the ones with a quirk are answered here.
struct LocalS3 {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
}

impl LocalS3 {
    /// The file an object is stored in; `None` for a name that is not a
    /// plain relative path (s3s-fs itself refuses those).
    fn object_path(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        let rel = Path::new(bucket).join(key);
        rel.components()
            .all(|c| matches!(c, Component::Normal(_)))
            .then(|| self.root.join(rel))
    }

    /// NoSuchBucket unless the bucket's folder exists.
    fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        match self.object_path(bucket, "") {
            Some(p) if p.is_dir() => Ok(()),
            _ => Err(s3_error!(NoSuchBucket)),
        }
    }

    /// Quirk: a key naming a folder of the data directory. s3s-fs opens the
    /// folder as a file and fails with 500 InternalError (which clients
    /// retry); in S3 a "folder" is no object: 404 NoSuchKey.
    fn refuse_folder(&self, bucket: &str, key: &str) -> S3Result<()> {
        match self.object_path(bucket, key) {
            Some(p) if p.is_dir() => Err(s3_error!(NoSuchKey)),
            _ => Ok(()),
        }
    }
}

/// Passes the listed operations through to s3s-fs and adds the ones
/// written out in `own`.
macro_rules! local_s3 {
    (pass: [$($op:ident($input:ident) -> $output:ident),* $(,)?], own: {$($own:tt)*}) => {
        #[async_trait::async_trait]
        impl S3 for LocalS3 {
            $(
                async fn $op(
                    &self,
                    req: S3Request<dto::$input>,
                ) -> S3Result<S3Response<dto::$output>> {
                    self.fs.$op(req).await
                }
            )*
            $($own)*
        }
    };
}

local_s3! {
    pass: [
        create_bucket(CreateBucketInput) -> CreateBucketOutput,
        get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput,
        head_bucket(HeadBucketInput) -> HeadBucketOutput,
        list_buckets(ListBucketsInput) -> ListBucketsOutput,
        list_objects(ListObjectsInput) -> ListObjectsOutput,
        list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output,
    ],
    own: {
        async fn get_object(
            &self,
            mut req: S3Request<dto::GetObjectInput>,
        ) -> S3Result<S3Response<dto::GetObjectOutput>> {
            // Quirk: a GET in a bucket that does not exist. s3s-fs answers
            // NoSuchKey; S3 answers NoSuchBucket.
            self.require_bucket(&req.input.bucket)?;
            self.refuse_folder(&req.input.bucket, &req.input.key)?;
            // Quirk: a suffix range longer than the file. S3 answers the
            // whole object; s3s-fs seeks before the file's start (500), and
            // for a suffix of 2^63 or more its i64 cast panics, which kills
            // the process in a release build. The suffix is cut to the
            // file's length first (an empty file then gets S3's 416).
            if let Some(dto::Range::Suffix { length }) = req.input.range
                && let Some(path) = self.object_path(&req.input.bucket, &req.input.key)
                && let Ok(meta) = tokio::fs::metadata(&path).await
                && length > meta.len()
            {
                req.input.range = Some(dto::Range::Suffix { length: meta.len() });
            }
            self.fs.get_object(req).await
        }

        async fn head_object(
            &self,
            req: S3Request<dto::HeadObjectInput>,
        ) -> S3Result<S3Response<dto::HeadObjectOutput>> {
            self.refuse_folder(&req.input.bucket, &req.input.key)?;
            self.fs.head_object(req).await
        }

        async fn put_object(
            &self,
            req: S3Request<dto::PutObjectInput>,
        ) -> S3Result<S3Response<dto::PutObjectOutput>> {
            // Quirk: a PUT in a bucket that does not exist. s3s-fs makes the
            // folder, and so the bucket; S3 answers NoSuchBucket. (A PUT
            // already under way when its bucket is deleted may still make
            // it again: the object is kept, never lost.)
            self.require_bucket(&req.input.bucket)?;
            self.fs.put_object(req).await
        }

        async fn delete_bucket(
            &self,
            req: S3Request<dto::DeleteBucketInput>,
        ) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
            // Quirk: s3s-fs deletes a bucket with everything in it; S3
            // refuses one that holds objects (409 BucketNotEmpty).
            let Some(dir) = self.object_path(&req.input.bucket, "") else {
                return Err(s3_error!(NoSuchBucket));
            };
            if !dir.is_dir() {
                return Err(s3_error!(NoSuchBucket));
            }
            match tokio::task::spawn_blocking(move || remove_empty_bucket(&dir)).await {
                Ok(Ok(())) => Ok(S3Response::new(dto::DeleteBucketOutput::default())),
                Ok(Err(e)) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {
                    Err(s3_error!(BucketNotEmpty))
                }
                _ => Err(s3_error!(InternalError)),
            }
        }

        async fn delete_object(
            &self,
            req: S3Request<dto::DeleteObjectInput>,
        ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
            // Quirk: deleting a key that names a folder. s3s-fs calls
            // remove_file on it (500); in S3 there is no such object, and
            // deleting a key that does not exist succeeds (204).
            if !req.input.key.ends_with('/')
                && self.refuse_folder(&req.input.bucket, &req.input.key).is_err()
            {
                return Ok(S3Response::new(dto::DeleteObjectOutput::default()));
            }
            self.fs.delete_object(req).await
        }
    }
}

/// Removes a bucket's folder if it holds no object. Any file is an object:
/// nothing is removed then. Folders left empty by deleted objects are
/// removed bottom-up with `remove_dir`, which fails on a folder that is not
/// empty, and so does the bucket's own last `remove_dir`: an object written
/// meanwhile makes the delete fail, and is never lost.
fn remove_empty_bucket(dir: &Path) -> io::Result<()> {
    fn holds_a_file(dir: &Path) -> io::Result<bool> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if !kind.is_dir() || holds_a_file(&entry.path())? {
                return Ok(true);
            }
        }
        Ok(false)
    }
    fn prune(dir: &Path) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                prune(&entry.path())?;
                std::fs::remove_dir(entry.path())?;
            }
        }
        Ok(())
    }
    let not_empty = || io::Error::from(io::ErrorKind::DirectoryNotEmpty);
    if holds_a_file(dir)? {
        return Err(not_empty());
    }
    prune(dir)?;
    std::fs::remove_dir(dir).map_err(|e| match e.kind() {
        io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::AlreadyExists => not_empty(),
        _ => e,
    })
}
