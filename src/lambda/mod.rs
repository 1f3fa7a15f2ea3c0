//! What crosses the Lambda boundary: the API Gateway event in, the proxy
//! response out, and the Runtime API loop that carries them.

pub mod event;
pub mod response;
pub mod runtime;
pub mod stream;
