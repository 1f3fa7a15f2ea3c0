//! One integration-test binary, a module per area. Everything runs against
//! the real `aws_sdk_s3::Client` and a real in-process `s3s-fs` store with
//! SigV4 checking on; no mocked S3.

mod bad_input;
mod buckets;
mod cache;
mod cli;
mod events;
mod fault_proxy;
mod faults;
mod gateway;
mod hostile;
mod http_surface;
mod layout;
mod load;
mod objects;
mod openapi;
mod presign;
mod properties;
mod runtime;
mod security;
mod streaming;
mod support;
mod transforms;
