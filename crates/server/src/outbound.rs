//! Requests the server makes to other services (webhook receivers, ML backends): why one
//! failed, in a sentence with its causes.

/// A transport error from a request to `who` (a URL, or "the receiver").
pub fn describe(who: &str, e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut out = if e.is_timeout() {
        format!("{who} did not answer in time")
    } else if e.is_connect() {
        format!("cannot connect to {who}")
    } else {
        format!("the request to {who} failed")
    };
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
