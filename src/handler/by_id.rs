//! Opaque object ids: `GET|HEAD /o/{id}` (every GET feature for the object
//! an id names), `GET /presign/o/{id}` (a presigned GET by id) and
//! `GET /id/{key}` (admin: the id of an existing object). An id that does
//! not open, or names a bucket or key this API would not serve, answers
//! exactly as an absent object.

use super::App;
use crate::conditional::Conditions;
use crate::error::Error;
use crate::request::{Request, Target};
use crate::response::Reply;

impl App {
    /// The bucket (bucket mode) and key an id names, if this API serves
    /// them today: the bucket still allowlisted (or still the one bucket),
    /// the key still a valid object key outside the reserved folder.
    fn open_id(&self, id: &str) -> Result<(Option<String>, String), Error> {
        let (bucket, key) = self
            .ids
            .as_ref()
            .and_then(|ids| ids.decode(id))
            .ok_or(Error::NotFound)?;
        let bucket = match &self.config.buckets {
            Some(allowed) if allowed.contains(&bucket) => Some(bucket),
            None if bucket == self.config.bucket => None,
            _ => return Err(Error::NotFound),
        };
        match self.key_rules.target(&key) {
            Ok(Target::Object(key)) => Ok((bucket, key)),
            _ => Err(Error::NotFound),
        }
    }

    /// `GET|HEAD /o/{id}`: as `GET /{key}`, 304, 206, transforms and
    /// streaming included. A transform's signature covers `o/{id}`.
    pub(super) async fn by_id(&self, req: &Request, id: &str) -> Result<Reply, Error> {
        let (bucket, key) = self.open_id(id)?;
        let reply = self
            .scoped(bucket.as_deref())
            .object_routes(req, Target::Object(key))
            .await;
        // The id was made for an object in a bucket that is gone: absent.
        reply.map_err(|e| match e {
            Error::NoSuchBucket(_) => Error::NotFound,
            other => other,
        })
    }

    /// `GET /presign/o/{id}?method=GET`: a presigned GET of the object an
    /// id names. The URL is S3's, so it names the bucket and key: give
    /// callers `/o/{id}` where the key must stay hidden.
    pub(super) async fn presign_by_id(&self, req: &Request, id: &str) -> Result<Reply, Error> {
        if let Some(m) = req.single("method")?
            && !m.eq_ignore_ascii_case("GET")
        {
            return Err(Error::BadRequest(format!(
                "method {m:?}: an id is presigned for GET only"
            )));
        }
        let (bucket, key) = self.open_id(id)?;
        self.scoped(bucket.as_deref())
            .presign(req, key)
            .await
            .map_err(|e| match e {
                Error::NoSuchBucket(_) => Error::NotFound,
                other => other,
            })
    }

    /// `GET /id/{key}` (admin): `{"id", "path"}` for an existing object;
    /// 404 for an absent one.
    pub(super) async fn id_of(&self, req: &Request, key: String) -> Result<Reply, Error> {
        let Some(ids) = &self.ids else {
            return Err(Error::NotFound);
        };
        self.store.head(&key, &Conditions::default()).await?;
        let id = ids.encode(self.store.bucket(), &key);
        let path = if req.stage.is_empty() {
            format!("/o/{id}")
        } else {
            format!("/{}/o/{id}", req.stage)
        };
        Ok(Reply::Json {
            status: 200,
            body: serde_json::json!({ "id": id, "path": path }),
        })
    }
}
