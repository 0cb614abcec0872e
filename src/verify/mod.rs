//! Verification: the one pipeline that checks a signature envelope against a
//! target and trust material ([`pipeline`]), and its remote form that
//! discovers and fetches an image's signatures first ([`remote`]).

pub mod pipeline;
pub mod remote;
