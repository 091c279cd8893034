//! Request metrics resolved once per route template: a request's count and latency go to
//! handles its route holds, instead of a label lookup (and a copy of the template) per request.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::RequestLabels;
use super::latency::Latency;

/// The statuses most answers have: their handles are kept once made; others are looked up.
const COMMON: [u16; 10] = [200, 304, 400, 404, 405, 406, 500, 502, 503, 504];

/// One route template's request count and latency, by status.
pub struct RouteMetrics {
    route: String,
    requests: Family<RequestLabels, Counter>,
    seconds: Family<RequestLabels, Latency>,
    common: [OnceLock<(Counter, Latency)>; COMMON.len()],
}

impl RouteMetrics {
    pub(super) fn new(
        route: &str,
        requests: &Family<RequestLabels, Counter>,
        seconds: &Family<RequestLabels, Latency>,
    ) -> Self {
        Self {
            route: route.to_owned(),
            requests: requests.clone(),
            seconds: seconds.clone(),
            common: Default::default(),
        }
    }

    /// One request of this route, answered with `status` after `took`.
    pub fn record(&self, status: u16, took: Duration) {
        let record = |(count, latency): &(Counter, Latency)| {
            count.inc();
            latency.observe(took);
        };
        match COMMON.iter().position(|&common| common == status) {
            Some(slot) => record(self.common[slot].get_or_init(|| self.resolve(status))),
            None => record(&self.resolve(status)),
        }
    }

    fn resolve(&self, status: u16) -> (Counter, Latency) {
        let labels = RequestLabels { route: self.route.clone(), status };
        (self.requests.get_or_create(&labels).clone(), self.seconds.get_or_create(&labels).clone())
    }
}
