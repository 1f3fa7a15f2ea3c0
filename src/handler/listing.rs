//! `GET /{prefix}/` and `GET /`: one page of a folder's objects and
//! sub-folders, when listing is on. `?limit=` (1-1000, default 1000) and
//! `?token=` for the next page; each given at most once.

use super::App;
use crate::error::Error;
use crate::request::Request;
use crate::response::Reply;

impl App {
    pub(super) async fn list(&self, req: &Request, folder: String) -> Result<Reply, Error> {
        if !self.config.allow_list {
            return Err(Error::ListingDisabled);
        }
        let limit = match req.single("limit")? {
            None => 1000,
            Some(l) => match l.parse::<i32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(Error::BadRequest(format!(
                        "limit {l:?}: expected a whole number from 1 to 1000"
                    )));
                }
            },
        };
        let token = req.single("token")?.filter(|t| !t.is_empty());
        // S3's tokens are printable ASCII without spaces; anything else is
        // not one of ours (some stores would take it and answer a page).
        if token.is_some_and(|t| t.len() > 1024 || !t.bytes().all(|b| b.is_ascii_graphic())) {
            return Err(Error::BadRequest(
                "token: not a continuation token from this API".to_string(),
            ));
        }
        let mut page = self.store.list(&folder, token, limit).await?;
        // The reserved folder is not shown (it is refused anyway).
        if let Some(reserved) = &self.key_rules.reserved {
            page.folders.retain(|f| !f.starts_with(reserved.as_str()));
            page.objects
                .retain(|o| !o.key.starts_with(reserved.as_str()));
        }
        Ok(Reply::Listing { folder, page })
    }
}
