//! s3gate serves S3 objects (mostly images) through API Gateway and a Rust
//! Lambda function, and runs the same handler on a laptop behind a local API
//! Gateway emulator. This file only declares the modules; each one opens with
//! why it exists (docs/architecture.md walks through them).

pub mod conditional;
pub mod config;
pub mod error;
pub mod handler;
pub mod ids;
pub mod lambda;
pub mod limits;
pub mod media;
pub mod metrics;
pub mod request;
pub mod response;
pub mod storage;
pub mod telemetry;
pub mod transform;

#[cfg(feature = "local")]
pub mod local;

pub use config::Config;
pub use error::Error;
pub use handler::App;
pub use lambda::event::ProxyEvent;
pub use lambda::response::ProxyResponse;
pub use request::Request;
