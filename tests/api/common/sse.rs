//! A server-sent events client for tests: reads a `text/event-stream` body and splits it into
//! events (comments and `retry:` lines kept apart), waiting with a deadline.

use std::time::Duration;

/// One event as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    pub id: String,
    pub data: String,
}

pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
    /// Comment lines seen so far (heartbeats).
    pub comments: usize,
    /// The `retry:` field, once seen.
    pub retry: Option<u64>,
}

impl EventStream {
    pub async fn open(client: &reqwest::Client, url: &str, last_event_id: Option<&str>) -> Self {
        let mut request = client.get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("the stream opens");
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self { response, buffer: String::new(), comments: 0, retry: None }
    }

    /// The next event, or `None` if none arrives within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(event) = self.take_event() {
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?;
            let chunk = chunk.expect("the stream reads").expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event; fails if none arrives within 20 s.
    pub async fn next(&mut self) -> Event {
        self.next_within(Duration::from_secs(20)).await.expect("an event within 20 s")
    }

    /// Whether the server ended the stream within `wait`.
    pub async fn ended_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return false,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Ok(Ok(Some(chunk))) => self.buffer.push_str(std::str::from_utf8(&chunk).unwrap()),
            }
        }
    }

    fn take_event(&mut self) -> Option<Event> {
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut event = Event { name: "message".into(), id: String::new(), data: String::new() };
            let mut fields = false;
            for line in block.lines() {
                if line.starts_with(':') {
                    self.comments += 1;
                } else if let Some(v) = line.strip_prefix("retry: ") {
                    self.retry = v.parse().ok();
                } else if let Some((field, value)) = line.split_once(": ") {
                    fields = true;
                    match field {
                        "event" => event.name = value.into(),
                        "id" => event.id = value.into(),
                        "data" => event.data.push_str(value),
                        other => panic!("unexpected field {other}"),
                    }
                }
            }
            if fields {
                return Some(event);
            }
        }
        None
    }
}
