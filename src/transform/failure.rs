//! Why a transform did not produce an image: in s3gate's own words for the
//! caller, in the codec's for the log. Shared by every step of the
//! pipeline and the WebP assembly.

/// Why a transform did not produce an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The image cannot be transformed (422): `public` says why in
    /// s3gate's own words; `detail` (a codec's own text) is for the log
    /// only, never for the caller.
    Unprocessable {
        public: String,
        detail: Option<String>,
    },
    /// The deadline passed.
    TimedOut,
}

pub fn bad(why: impl Into<String>) -> Failure {
    Failure::Unprocessable {
        public: why.into(),
        detail: None,
    }
}

/// A codec refused the data: the caller learns which kind of image was
/// damaged, the log learns the codec's words.
pub fn damaged(kind: &str, e: &dyn std::fmt::Display) -> Failure {
    Failure::Unprocessable {
        public: format!("the {kind} is damaged or incomplete, so it cannot be transformed"),
        detail: Some(format!("{kind} decoder: {e}")),
    }
}

/// An encoder's refusal (422), for every output format.
pub fn encode_failed(e: &dyn std::fmt::Display) -> Failure {
    Failure::Unprocessable {
        public: "the image could not be encoded".to_string(),
        detail: Some(format!("encoder: {e}")),
    }
}
