//! Laptop mode, behind the `local` feature so the Lambda function links none
//! of it: the embedded S3-compatible store, the local API Gateway and the
//! command line front end.

pub mod backend;
pub mod cli;
pub mod client;
pub mod error;
pub mod gateway;
pub mod random;
pub mod serve;
pub mod store;

pub use store::EmbeddedStore;
