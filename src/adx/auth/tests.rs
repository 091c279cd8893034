//! The token source with scripted credentials: refresh sharing, the pause after a failed
//! refresh and refused tokens, on tokio's paused clock where time matters.

use std::collections::VecDeque;
use std::sync::Mutex;

use azure_core::credentials::{TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;

use super::*;

const BUDGET: Duration = Duration::from_secs(5);
const HOUR: time::Duration = time::Duration::hours(1);

/// Answers each call with the next step of its script: a token (its text and lifetime), a
/// failure, or no answer ever; counts the calls.
#[derive(Debug)]
struct Scripted {
    script: Mutex<VecDeque<Step>>,
    calls: AtomicUsize,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Token(&'static str, time::Duration),
    Fail(&'static str),
    Hang,
}

impl Scripted {
    fn new(steps: impl IntoIterator<Item = Step>) -> Arc<Self> {
        Arc::new(Self { script: Mutex::new(steps.into_iter().collect()), calls: AtomicUsize::new(0) })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl TokenCredential for Scripted {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let step = self.script.lock().unwrap().pop_front().expect("a step left in the script");
        match step {
            Step::Token(token, lifetime) => Ok(AccessToken::new(token, OffsetDateTime::now_utc() + lifetime)),
            Step::Fail(message) => Err(azure_core::Error::with_message(ErrorKind::Credential, message)),
            Step::Hang => std::future::pending().await,
        }
    }
}

/// A source whose only credential is `credential`, rebuilt as the same one.
fn source(credential: &Arc<Scripted>) -> TokenSource {
    let shared = Arc::clone(credential) as Arc<dyn TokenCredential>;
    let make: Make = Box::new(move || Ok(vec![("scripted", Arc::clone(&shared))]));
    let credentials = make().unwrap();
    TokenSource::from_credentials(make, credentials, given_scope())
}

fn given_scope() -> cloud::Scope {
    cloud::Scope::Given("https://kusto.example/.default".into())
}

/// Until no refresh is in flight (one started in the background has settled).
async fn settled(source: &TokenSource) {
    while source.inner.state().refreshing.is_some() {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_slow_refresh_never_stalls_requests_holding_a_usable_token() {
    // Inside the refresh margin, outside the usable one: served while a refresh runs.
    let credential = Scripted::new([Step::Token("first", time::Duration::minutes(2)), Step::Hang]);
    let source = source(&credential);
    let first = source.authorization(BUDGET, BUDGET).await.unwrap();
    assert_eq!(first, "Bearer first");
    assert!(first.is_sensitive());
    // No wait at all is allowed: a call that had to wait for the hung refresh would fail.
    for _ in 0..3 {
        assert_eq!(source.authorization(BUDGET, Duration::ZERO).await.unwrap(), "Bearer first");
    }
    let refreshing = async {
        while credential.calls() < 2 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), refreshing).await.expect("a refresh started");
    assert_eq!(credential.calls(), 2, "one shared refresh, still hung");
}

#[tokio::test(start_paused = true)]
async fn after_a_failed_refresh_requests_get_the_failure_until_a_growing_pause_ends() {
    let credential = Scripted::new([Step::Fail("down"), Step::Fail("still down"), Step::Token("t", HOUR)]);
    let source = source(&credential);
    let failure = |r: Result<HeaderValue, AuthError>| r.unwrap_err().to_string();
    assert!(failure(source.authorization(BUDGET, BUDGET).await).contains("scripted: down"));
    assert_eq!(credential.calls(), 1);
    // The first pause is 1 to 2 s: until then every request gets the failure, none refreshes.
    for _ in 0..5 {
        assert!(failure(source.authorization(BUDGET, BUDGET).await).contains("scripted: down"));
    }
    tokio::time::advance(Duration::from_millis(999)).await;
    assert!(failure(source.authorization(BUDGET, BUDGET).await).contains("scripted: down"));
    assert_eq!(credential.calls(), 1, "no refresh within the pause");
    tokio::time::advance(Duration::from_millis(1002)).await;
    assert!(failure(source.authorization(BUDGET, BUDGET).await).contains("still down"));
    assert_eq!(credential.calls(), 2, "one refresh once the pause ended");
    // The second failure in a row pauses longer: 2 to 4 s.
    tokio::time::advance(Duration::from_millis(1999)).await;
    assert!(failure(source.authorization(BUDGET, BUDGET).await).contains("still down"));
    assert_eq!(credential.calls(), 2);
    tokio::time::advance(Duration::from_millis(2002)).await;
    assert_eq!(source.authorization(BUDGET, BUDGET).await.unwrap(), "Bearer t");
    assert_eq!(credential.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_of_a_token_still_usable_is_not_retried_by_every_request() {
    // Two minutes left: inside the refresh margin, so each request would start a refresh.
    let expiring = time::Duration::minutes(2);
    let credential =
        Scripted::new([Step::Token("old", expiring), Step::Fail("down"), Step::Token("new", HOUR)]);
    let source = source(&credential);
    assert_eq!(source.authorization(BUDGET, BUDGET).await.unwrap(), "Bearer old");
    assert_eq!(source.authorization(BUDGET, BUDGET).await.unwrap(), "Bearer old");
    settled(&source).await;
    assert_eq!(credential.calls(), 2, "the background refresh ran and failed");
    for _ in 0..5 {
        assert_eq!(source.authorization(BUDGET, BUDGET).await.unwrap(), "Bearer old");
    }
    settled(&source).await;
    assert_eq!(credential.calls(), 2, "the token serves on, and no refresh starts within the pause");
    tokio::time::advance(LONGEST_PAUSE).await;
    assert_eq!(source.authorization(BUDGET, BUDGET).await.unwrap(), "Bearer old");
    settled(&source).await;
    assert_eq!(source.authorization(BUDGET, BUDGET).await.unwrap(), "Bearer new");
    assert_eq!(credential.calls(), 3);
}

#[test]
fn pauses_double_with_each_failure_in_a_row_up_to_the_longest() {
    for in_a_row in 1..=40 {
        let step = FIRST_PAUSE.saturating_mul(1 << (in_a_row - 1).min(16)).min(LONGEST_PAUSE);
        for _ in 0..50 {
            let pause = pause(in_a_row);
            assert!(step / 2 <= pause && pause <= step, "failure {in_a_row}: {pause:?} of {step:?}");
        }
    }
    assert!(pause(1) <= Duration::from_secs(2) && pause(40) <= LONGEST_PAUSE);
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_is_forgotten_and_the_next_request_fetches_another() {
    let credential = Scripted::new([Step::Token("t1", HOUR), Step::Token("t2", HOUR)]);
    let source = source(&credential);
    let first = source.authorization(BUDGET, BUDGET).await.unwrap();
    // A value that is not the cached token (an older one) changes nothing.
    source.reject(&HeaderValue::from_static("Bearer t0"));
    assert_eq!(source.authorization(BUDGET, BUDGET).await.unwrap(), first);
    assert_eq!(credential.calls(), 1);
    source.reject(&first);
    let second = source.authorization(BUDGET, BUDGET).await.unwrap();
    assert_eq!(second, "Bearer t2");
    assert!(second.is_sensitive());
    assert_eq!(credential.calls(), 2);
    // Another request refused with the first token reports it late: the new one stays.
    source.reject(&first);
    assert_eq!(source.authorization(BUDGET, BUDGET).await.unwrap(), second);
    assert_eq!(credential.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_replacement_refused_at_once_is_kept_for_a_while() {
    let steps = ["t1", "t2", "t3"].map(|token| Step::Token(token, HOUR));
    let credential = Scripted::new(steps);
    let source = source(&credential);
    let first = source.authorization(BUDGET, BUDGET).await.unwrap();
    source.reject(&first);
    let second = source.authorization(BUDGET, BUDGET).await.unwrap();
    assert_eq!(second, "Bearer t2");
    // The cluster refuses the new token too: no new token for every refused query.
    tokio::time::advance(REFUSED_TOO_SOON - Duration::from_secs(1)).await;
    for _ in 0..3 {
        source.reject(&second);
        assert_eq!(source.authorization(BUDGET, BUDGET).await.unwrap(), second);
    }
    assert_eq!(credential.calls(), 2);
    tokio::time::advance(Duration::from_secs(1)).await;
    source.reject(&second);
    assert_eq!(source.authorization(BUDGET, BUDGET).await.unwrap(), "Bearer t3");
}

/// Like azure_identity's credentials: the same token from its own cache, whatever is asked.
#[derive(Debug)]
struct Caching(&'static str);

#[async_trait::async_trait]
impl TokenCredential for Caching {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(self.0, OffsetDateTime::now_utc() + HOUR))
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_is_not_handed_back_by_a_credential_cache() {
    let built = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&built);
    let make: Make = Box::new(move || {
        let token = ["cached-1", "cached-2"][counter.fetch_add(1, Ordering::SeqCst).min(1)];
        Ok(vec![("caching", Arc::new(Caching(token)) as Arc<dyn TokenCredential>)])
    });
    let credentials = make().unwrap();
    let source = TokenSource::from_credentials(make, credentials, given_scope());
    let first = source.authorization(BUDGET, BUDGET).await.unwrap();
    assert_eq!(first, "Bearer cached-1");
    source.reject(&first);
    assert_eq!(source.authorization(BUDGET, BUDGET).await.unwrap(), "Bearer cached-2");
    assert_eq!(built.load(Ordering::SeqCst), 2, "the credentials were built afresh");
}

#[tokio::test]
async fn tokens_go_to_https_clusters_only() {
    let http = Url::parse("http://127.0.0.1:9").unwrap();
    let scope = Some("https://kusto.example/.default".to_owned());
    let none = TrustedHosts::default();
    let Err(error) = TokenSource::for_cluster(AuthMode::AzureCli, &http, scope.clone(), &none) else {
        panic!("a token source for an http cluster");
    };
    let message = error.to_string();
    assert!(message.contains("http://") && message.contains("--adx-auth none"), "{message}");
    // Without a token, a local engine over http is fine.
    assert!(TokenSource::for_cluster(AuthMode::None, &http, scope.clone(), &none).unwrap().is_none());
    // Over https, only to a Kusto endpoint (or a host named trusted: `trusted`'s own tests).
    let elsewhere = Url::parse("https://adx.mycompany.example").unwrap();
    let Err(error) = TokenSource::for_cluster(AuthMode::AzureCli, &elsewhere, scope.clone(), &none) else {
        panic!("a token source for a host that is no Kusto endpoint");
    };
    let message = error.to_string();
    assert!(
        message.contains("adx.mycompany.example") && message.contains("--adx-trusted-hosts"),
        "{message}"
    );
    assert!(TokenSource::for_cluster(AuthMode::None, &elsewhere, scope, &none).unwrap().is_none());
}
