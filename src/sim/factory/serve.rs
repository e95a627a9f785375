//! Serving a file of the factory (a built image or a file put there by a control) to
//! `HEAD`/`GET`: `Content-Length`, byte ranges (`bytes=A-B`, `A-`, `-N`, `416` with
//! `Content-Range: bytes */LEN`), and a body streamed from disk in chunks with its faults
//! applied, so memory stays flat whatever the size.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::faults::{BodyFault, FactoryFaults};
use super::server::{lock, text};

/// Chunk size of bodies.
const BODY_CHUNK: usize = 256 * 1024;

/// A file served by the factory.
#[derive(Debug, Clone)]
pub(super) struct Served {
    /// Where its bytes are.
    pub path: PathBuf,
    /// Its length.
    pub len: u64,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The name in `Content-Disposition`.
    pub filename: String,
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` against `len`: `Ok(None)` without a range,
/// `Err(())` when unsatisfiable or malformed.
fn parse_range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let spec = value
        .to_str()
        .map_err(|_| ())?
        .trim()
        .strip_prefix("bytes=")
        .ok_or(())?;
    if spec.contains(',') {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| ())?, len.saturating_sub(1)),
        (a, b) => (
            a.parse().map_err(|_| ())?,
            b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1)),
        ),
    };
    if start >= len || end < start {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// The answer to a `HEAD` or `GET` of `served`, with the body faults due.
pub(super) async fn serve(
    served: &Served,
    method: &Method,
    headers: &HeaderMap,
    faults: &Mutex<FactoryFaults>,
) -> Response {
    let (fault, ignore_ranges) = {
        let mut faults = lock(faults);
        (faults.take_body(*method == Method::GET), faults.ignore_ranges)
    };
    let len = served.len;
    let range = if ignore_ranges {
        Ok(None)
    } else {
        parse_range(headers, len)
    };
    let range = match range {
        Ok(range) => range,
        Err(()) => {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Body::from("range not satisfiable\n"))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
    };
    let (status, start, end) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end),
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, count)
        .header(header::CONTENT_TYPE, served.content_type)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", served.filename),
        );
    if status == StatusCode::PARTIAL_CONTENT {
        builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
    }
    if *method == Method::HEAD {
        return builder
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    let file = match tokio::fs::File::open(&served.path).await {
        Ok(file) => file,
        Err(e) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot open the cached file: {e}"),
            );
        }
    };
    let fault = BodyFault {
        corrupt_at: fault.corrupt_at.map(|at| at.min(len.saturating_sub(1))),
        ..fault
    };
    builder
        .body(Body::from_stream(body_stream(file, start, count, fault)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The bytes `start..start+count` of the file, with faults applied.
fn body_stream(
    file: tokio::fs::File,
    start: u64,
    count: u64,
    fault: BodyFault,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    struct Cursor {
        file: tokio::fs::File,
        offset: u64,
        sent: u64,
        seeked: bool,
        done: bool,
    }
    let cursor = Cursor {
        file,
        offset: start,
        sent: 0,
        seeked: false,
        done: false,
    };
    // A slow body goes out in chunks of at most one second's worth.
    let chunk = fault.slow.map_or(BODY_CHUNK, |rate| {
        usize::try_from(rate).unwrap_or(BODY_CHUNK).clamp(1, BODY_CHUNK)
    });
    futures::stream::unfold(cursor, move |mut c| async move {
        if c.done {
            return None;
        }
        if !c.seeked {
            c.seeked = true;
            if let Err(e) = c.file.seek(std::io::SeekFrom::Start(c.offset)).await {
                c.done = true;
                return Some((Err(e), c));
            }
        }
        let mut limit = count - c.sent;
        if let Some(drop_after) = fault.drop_after {
            if c.sent >= drop_after {
                c.done = true;
                if !fault.reset {
                    // Let the bytes already sent leave before the connection is cut, so
                    // the client holds exactly `drop_after` bytes.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let e = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected drop");
                return Some((Err(e), c));
            }
            limit = limit.min(drop_after - c.sent);
        }
        if limit == 0 {
            return None;
        }
        let want = usize::try_from(limit).unwrap_or(chunk).min(chunk);
        let mut buf = vec![0u8; want];
        if let Err(e) = c.file.read_exact(&mut buf).await {
            c.done = true;
            return Some((Err(e), c));
        }
        if let Some(at) = fault.corrupt_at
            && at >= c.offset
            && at < c.offset + want as u64
        {
            let i = usize::try_from(at - c.offset).unwrap_or(0);
            buf[i] ^= 0xFF;
        }
        if let Some(rate) = fault.slow {
            tokio::time::sleep(Duration::from_secs_f64(want as f64 / rate as f64)).await;
        }
        c.offset += want as u64;
        c.sent += want as u64;
        Some((Ok(Bytes::from(buf)), c))
    })
    .boxed()
}
