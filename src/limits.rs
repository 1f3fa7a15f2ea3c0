//! The numbers every part of s3gate agrees on: S3's, Lambda's and SigV4's
//! limits. Kept apart so that a rule about keys or sizes has one home and no
//! module imports another just to read a constant.

/// S3's limit on the length of a key, in bytes (the key prefix included).
pub const MAX_KEY_LEN: usize = 1024;
/// S3's largest object (5 TiB). Every byte position s3gate sends to a store
/// is at most this: a larger one names a byte no object has, and some
/// stores cast positions to `i64` (s3s-fs 0.14 panics on a suffix of 2^63).
pub const MAX_OBJECT_SIZE: u64 = 5 << 40;
/// S3's limit for a single PUT.
pub const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;
/// SigV4 presigned URLs live at most seven days.
pub const MAX_PRESIGN_TTL: u64 = 7 * 24 * 3600;
/// Lambda's cap on a synchronous response payload (the whole JSON envelope).
pub const LAMBDA_RESPONSE_CAP: u64 = 6_291_556;
/// Room kept for the JSON envelope around the body: status, headers, keys.
pub const ENVELOPE_RESERVE: u64 = 16 * 1024;
/// The largest object whose base64 form still fits in a Lambda response:
/// `4 * ceil(n / 3) <= cap - reserve`. About 4.49 MiB.
pub const MAX_INLINE_LIMIT: u64 = (LAMBDA_RESPONSE_CAP - ENVELOPE_RESERVE) / 4 * 3;
/// Lambda's cap on a streamed response (200 MiB).
pub const MAX_STREAM_LIMIT: u64 = 200 * 1024 * 1024;
/// API Gateway reads the streamed response's prelude from its first 16 KB.
pub const MAX_PRELUDE: usize = 16 * 1024;
