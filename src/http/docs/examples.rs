//! The example problems of the OpenAPI document: each is what the server answers in that case,
//! made by the code that answers it.

use std::time::Duration;

use crate::backend::BackendError;
use crate::engine;
use crate::events::parse_batch;
use crate::http::events::BODY_LIMIT;
use crate::http::problem::{ApiError, Problem};
use crate::leaderboard::{Limit, MaxLimit};

pub fn bad_parameter() -> Problem {
    let refused =
        Limit::parse(Some("500"), MaxLimit::DEFAULT).expect_err("500 is past the default --max-limit");
    ApiError::from(refused).document()
}

pub fn unknown_campaign() -> Problem {
    ApiError::UnknownCampaign("autumn-spins".into()).document()
}

pub fn backend_error() -> Problem {
    let code = "General_BadRequest".into();
    let message = "Request is invalid and cannot be executed.".into();
    ApiError::from(BackendError::Rejected { code, message }).document()
}

pub fn busy() -> Problem {
    ApiError::Engine(engine::Error::Busy).document()
}

pub fn timeout() -> Problem {
    ApiError::Engine(engine::Error::Budget(Duration::from_secs(5))).document()
}

pub fn overloaded() -> Problem {
    ApiError::Overloaded.document()
}

pub fn ingest_full() -> Problem {
    ApiError::IngestFull.document()
}

pub fn body_timeout() -> Problem {
    ApiError::BodyTimeout(std::time::Duration::from_secs(30)).document()
}

/// A batch whose second event has a time without an offset.
pub fn invalid_events() -> Problem {
    let batch = br#"[{"playerId":7,"gameId":1,"win":500,"stake":2,"eventTime":"2026-11-24T10:00:00Z"},
        {"playerId":42,"gameId":3,"win":0,"stake":5,"eventTime":"2026-11-24T10:00:01"}]"#;
    ApiError::BadBatch(parse_batch(batch).expect_err("a time without an offset is refused")).document()
}

pub fn unauthorized() -> Problem {
    ApiError::Unauthorized.document()
}

pub fn compressed() -> Problem {
    ApiError::Compressed("gzip".into()).document()
}

pub fn cross_origin() -> Problem {
    ApiError::CrossOrigin("https://elsewhere.example".into()).document()
}

pub fn no_ingest() -> Problem {
    ApiError::NoIngest.document()
}

pub fn too_large() -> Problem {
    ApiError::PayloadTooLarge(BODY_LIMIT).document()
}
