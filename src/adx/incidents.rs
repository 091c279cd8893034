//! How ADX's refusals are logged: the whole message of each new kind of refusal (by its code),
//! once, and once more when queries are answered again; a refusal repeated by every refresh
//! during an incident goes to the debug log only (clients get its code and a short message, and
//! metrics count it).

use std::sync::Mutex;

#[derive(Default)]
pub struct Incidents {
    /// The code of the refusal last logged, while queries keep being refused.
    current: Mutex<Option<String>>,
}

impl Incidents {
    /// ADX refused a query with `code` and `message`.
    pub fn refused(&self, code: &str, message: &str, request_id: &str) {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_deref() == Some(code) {
            tracing::debug!(%request_id, code, detail = message, "ADX refused the query again");
        } else {
            tracing::warn!(%request_id, code, detail = message, "ADX refused the query");
            *current = Some(code.to_owned());
        }
    }

    /// A query was answered.
    pub fn answered(&self) {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(code) = current.take() {
            tracing::info!(after = code, "ADX answers queries again");
        }
    }
}
