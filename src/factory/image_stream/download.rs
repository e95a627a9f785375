//! The download loop of an image: one GET, then after a failure a ranged GET (`Range:
//! bytes=N-`, checked against `206` and `Content-Range`) from where it stopped; from a
//! server that ignores ranges, the image again with the bytes already received verified
//! against their hash and skipped.

use super::*;

/// The download loop: one GET, then ranged GETs after failures.
pub(super) struct Downloader {
    http: reqwest::Client,
    url: Url,
    timeouts: Timeouts,
    options: StreamOptions,
    progress: Arc<dyn ImageProgress>,
}

/// State carried across attempts.
struct Progressed {
    hasher: Sha256,
    offset: u64,
    total: Option<u64>,
}

enum AttemptError {
    Retry(Error),
    Fatal(Failure),
}

impl Downloader {
    pub(super) fn new(
        client: &FactoryClient,
        url: Url,
        options: StreamOptions,
        progress: Arc<dyn ImageProgress>,
    ) -> Downloader {
        Downloader {
            http: client.http().clone(),
            url,
            timeouts: client.timeouts(),
            options,
            progress,
        }
    }

    pub(super) async fn run(self, tx: mpsc::Sender<Chunk>) -> Result<(String, u64), Failure> {
        let mut state = Progressed {
            hasher: Sha256::new(),
            offset: 0,
            total: None,
        };
        let mut backoff = self.options.retry.backoff();
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let before = state.offset;
            match self.attempt(&mut state, &tx).await {
                Ok(()) => break,
                Err(AttemptError::Fatal(failure)) => return Err(failure),
                Err(AttemptError::Retry(error)) => {
                    if state.offset > before {
                        backoff.reset();
                    }
                    let delay = if attempts >= MAX_TOTAL_ATTEMPTS {
                        None
                    } else {
                        backoff.next()
                    };
                    let Some(delay) = delay else {
                        return Err(Failure::Fatal(Error::RetriesExhausted {
                            url: self.url.to_string(),
                            attempts,
                            bytes: state.offset,
                            source: Box::new(error),
                        }));
                    };
                    let reason = crate::error::chain(&error).join(": ");
                    tracing::warn!(
                        url = %crate::redact::redacted_url(self.url.as_str()),
                        attempt = attempts,
                        offset = state.offset,
                        error = %reason,
                        "image download interrupted; resuming"
                    );
                    self.progress.retrying(attempts, state.offset, &reason);
                    tokio::time::sleep(delay).await;
                }
            }
        }
        if tx.send(Chunk::End).await.is_err() {
            return Err(Failure::ReceiverGone);
        }
        Ok((hex::encode(state.hasher.finalize()), state.offset))
    }

    async fn attempt(&self, state: &mut Progressed, tx: &mpsc::Sender<Chunk>) -> Result<(), AttemptError> {
        let url = &self.url;
        let mut request = self.http.get(url.clone());
        if state.offset > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={}-", state.offset));
        }
        let response = match tokio::time::timeout(self.timeouts.image_response, request.send()).await {
            Err(_) => {
                return Err(AttemptError::Retry(Error::Timeout {
                    url: url.to_string(),
                    seconds: self.timeouts.image_response.as_secs(),
                }));
            }
            Ok(Err(source)) => return Err(AttemptError::Retry(transport(url, source))),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            let body = tokio::time::timeout(self.timeouts.read_idle, response.text())
                .await
                .ok()
                .and_then(Result::ok)
                .map(|b| first_line(&b))
                .unwrap_or_default();
            let error = Error::Status {
                url: url.to_string(),
                status: status.as_u16(),
                body,
            };
            return Err(if error.is_transient() {
                AttemptError::Retry(error)
            } else {
                AttemptError::Fatal(Failure::Fatal(error))
            });
        }
        let bad = |reason: String| {
            AttemptError::Fatal(Failure::Fatal(Error::BadResponse {
                url: url.to_string(),
                reason,
            }))
        };
        let content_length = response.content_length();
        let (start, announced_total) = if status == reqwest::StatusCode::PARTIAL_CONTENT {
            let range = response
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range)
                .ok_or_else(|| bad("206 Partial Content without a valid Content-Range".to_string()))?;
            if range.start != state.offset {
                return Err(bad(format!(
                    "asked for bytes from {} but Content-Range starts at {}",
                    state.offset, range.start
                )));
            }
            (range.start, range.total.or(content_length.map(|l| range.start + l)))
        } else {
            if state.offset > 0 {
                tracing::warn!(
                    url = %crate::redact::redacted_url(url.as_str()),
                    offset = state.offset,
                    "the server ignored the Range request; reading the image again from the start and \
                     verifying the bytes already received"
                );
            }
            (0, content_length)
        };
        match (state.total, announced_total) {
            (Some(known), Some(now)) if known != now => {
                return Err(bad(format!(
                    "the image size changed from {known} to {now} bytes between attempts"
                )));
            }
            (None, Some(now)) => {
                state.total = Some(now);
                self.progress.total(Some(now));
            }
            _ => {}
        }
        let mut skip = state.offset - start;
        let expected_prefix = (skip > 0).then(|| state.hasher.clone().finalize());
        let mut prefix_hasher = Sha256::new();
        let mut body = response.bytes_stream();
        loop {
            let next = match tokio::time::timeout(self.timeouts.read_idle, body.next()).await {
                Err(_) => {
                    return Err(AttemptError::Retry(Error::Timeout {
                        url: url.to_string(),
                        seconds: self.timeouts.read_idle.as_secs(),
                    }));
                }
                Ok(next) => next,
            };
            let mut chunk = match next {
                None => break,
                Some(Err(source)) => return Err(AttemptError::Retry(transport(url, source))),
                Some(Ok(chunk)) => chunk,
            };
            if skip > 0 {
                let n = usize::try_from(skip).unwrap_or(usize::MAX).min(chunk.len());
                prefix_hasher.update(&chunk[..n]);
                skip -= n as u64;
                chunk = chunk.slice(n..);
                if skip == 0 && expected_prefix.as_ref() != Some(&prefix_hasher.clone().finalize()) {
                    return Err(bad(
                        "the image changed between attempts (the re-read prefix differs)".to_string()
                    ));
                }
                if chunk.is_empty() {
                    continue;
                }
            }
            state.hasher.update(&chunk);
            state.offset += chunk.len() as u64;
            if let Some(total) = state.total
                && state.offset > total
            {
                return Err(bad(format!("received more than the announced {total} bytes")));
            }
            self.progress.advanced(state.offset);
            if tx.send(Chunk::Data(chunk)).await.is_err() {
                return Err(AttemptError::Fatal(Failure::ReceiverGone));
            }
        }
        if skip > 0 {
            return Err(AttemptError::Retry(Error::BadResponse {
                url: url.to_string(),
                reason: "the response ended before the bytes already received".to_string(),
            }));
        }
        if let Some(total) = state.total
            && state.offset < total
        {
            return Err(AttemptError::Retry(Error::BadResponse {
                url: url.to_string(),
                reason: format!("the connection ended after {} of {total} bytes", state.offset),
            }));
        }
        Ok(())
    }
}
