//! The OpenAPI description shared by the board, stream and export routes, said once: their
//! path and query parameters with the bounds the server enforces (the defaults of `--max-limit`
//! and `--max-standings`), and the problem answers they can give. Documentation only: requests
//! are validated by the typed parameters of `crate::leaderboard`.
#![allow(dead_code)]

use utoipa::{IntoParams, IntoResponses};

use super::problem::Problem;

/// The campaign of a route.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CampaignPath {
    /// Campaign id.
    #[param(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$")]
    id: String,
}

/// A campaign and one of its players.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PlayerPath {
    /// Campaign id.
    #[param(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$")]
    id: String,
    /// Player id (Int32, GamePlay's PlayerID type).
    #[param(rename = "playerId", minimum = -2147483648, maximum = 2147483647)]
    player_id: i32,
}

/// Which page of a board.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Entries to return, 1 to --max-limit (default 100); 10 when absent.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// 0-based rank of the first entry, up to --max-standings (default 1,000,000); past the
    /// end: no entries.
    #[param(minimum = 0, maximum = 1000000)]
    offset: Option<u32>,
}

/// The window of a `/window` route.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// Window length, more than 0 and at most 366 days: KQL-style 500ms, 30s, 15m, 2h, 7d
    /// (decimals such as 1.5h and ISO-8601 such as PT15M are accepted too). A campaign that
    /// declares its windows accepts only those.
    #[param(
        pattern = r"^([1-9][0-9]{0,9}ms|[1-9][0-9]{0,6}s|[1-9][0-9]{0,4}m|[1-9][0-9]{0,2}h|([1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6])d)$"
    )]
    last: String,
}

/// The view of a player, friends or export route: the whole campaign, or a window.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViewQuery {
    /// The window's length, as on /window; absent: the whole campaign.
    #[param(
        pattern = r"^([1-9][0-9]{0,9}ms|[1-9][0-9]{0,6}s|[1-9][0-9]{0,4}m|[1-9][0-9]{0,2}h|([1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6])d)$"
    )]
    last: Option<String>,
}

/// Neighbours of a player.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AroundQuery {
    /// Entries on each side of the player (default 0).
    #[param(minimum = 0, maximum = 50)]
    around: Option<u8>,
}

/// A conditional GET.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct Conditional {
    /// Tags the client holds, or *: a current one gets 304.
    #[param(rename = "If-None-Match")]
    if_none_match: Option<String>,
}

/// A stream's reconnection.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct Resume {
    /// The id of the last event received: no duplicate first event when it is still current.
    #[param(rename = "Last-Event-ID")]
    last_event_id: Option<String>,
}

/// The representation the client holds is current.
#[derive(IntoResponses)]
#[response(status = 304)]
pub struct NotModified;

/// What reading a view can answer instead of its body.
#[derive(IntoResponses)]
pub enum ReadProblems {
    /// Bad parameters, or a window the campaign does not declare.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// Unknown campaign.
    #[response(status = 404, content_type = "application/problem+json")]
    UnknownCampaign(Problem),
    /// The backend answered with an error (its code and a short message).
    #[response(status = 502, content_type = "application/problem+json")]
    Backend(Problem),
    /// Too busy (requests in flight, backend queries or ADX throttling): retry after Retry-After seconds.
    #[response(status = 503, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait")))]
    Busy(Problem),
    /// The backend did not answer within the request budget.
    #[response(status = 504, content_type = "application/problem+json")]
    Timeout(Problem),
}
