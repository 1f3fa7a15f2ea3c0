//! Who may do what: the admin routes' key, what `ids-only` hides, and the
//! methods each target answers (`Allow`, the 405).

use super::App;
use crate::error::{Error, KeyError};
use crate::request::{ID_OF_ROUTE, Method, Request, Target};

impl App {
    /// Admin routes need a key whose id is in `admin-key-ids`; with none
    /// configured, nobody passes.
    pub(super) fn require_admin(&self, req: &Request) -> Result<(), Error> {
        let admin = req
            .api_key_id
            .as_ref()
            .is_some_and(|id| self.config.admin_key_ids.iter().any(|a| a == id));
        if admin {
            Ok(())
        } else {
            Err(Error::Forbidden("this route needs an admin API key"))
        }
    }

    /// With `ids-only`, whether the route names a key (or a bucket's
    /// contents) and so answers 404. The id routes and the admin routes
    /// stay.
    pub(super) fn hidden_by_ids_only(&self, req: &Request) -> bool {
        if !self.config.ids_only {
            return false;
        }
        let admin_method = matches!(req.method, Method::Put | Method::Delete);
        // A bucket off the allowlist is hidden exactly as an absent one.
        let named = req.target.as_ref().map(|t| match t {
            Target::UnknownBucket(named) => &**named,
            t => t,
        });
        match named {
            Ok(Target::ById(_) | Target::PresignById(_) | Target::IdOf(_)) => false,
            Ok(Target::Bucket) | Err(KeyError::BucketName(_))
                if admin_method && !req.path.contains('/') =>
            {
                false
            }
            Err(_) if req.path.starts_with(ID_OF_ROUTE) => false,
            _ => true,
        }
    }

    /// The methods a target answers with the current settings: a folder
    /// (and the root) and the presign route are read-only; an object key
    /// takes PUT and DELETE with writes on. `None` (a key that does not
    /// parse) gets the object list.
    pub fn allow(&self, target: Option<&Target>) -> String {
        match target {
            Some(Target::UnknownBucket(named)) => return self.allow(Some(named)),
            Some(
                Target::Listing(_)
                | Target::Presign(_)
                | Target::Reserved
                | Target::Buckets
                | Target::ById(_)
                | Target::PresignById(_)
                | Target::IdOf(_),
            ) => "GET, HEAD, OPTIONS",
            // Create and delete are the admin's.
            Some(Target::Bucket) => "GET, HEAD, PUT, DELETE, OPTIONS",
            _ if self.config.allow_write => "GET, HEAD, PUT, DELETE, OPTIONS",
            _ => "GET, HEAD, OPTIONS",
        }
        .to_string()
    }

    pub(super) fn not_allowed(&self, req: &Request, target: &Target) -> Error {
        Error::MethodNotAllowed {
            method: req.method.as_str().to_string(),
            allow: self.allow(Some(target)),
        }
    }
}
