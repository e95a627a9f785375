//! A small Image Factory stand-in for tests: real HTTP on 127.0.0.1:0 (axum), serving
//! schematics, versions, official extensions and images generated in the test, with
//! recorded requests and injectable faults (dropped connections, ignored ranges, wrong
//! schematic IDs, error statuses, redirects). The emulated factory of the simulator comes
//! later; this one only has to be honest about HTTP.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use sha2::{Digest, Sha256};

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
}

/// Digests of an image, computed by the server from the bytes it generated and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub compressed_sha256: String,
    pub compressed_bytes: u64,
    pub raw_sha256: String,
    pub raw_bytes: u64,
}

/// Faults to inject.
#[derive(Debug, Default)]
pub struct Faults {
    /// Abort the next image response after this many body bytes (once).
    pub drop_after: Option<u64>,
    /// Answer ranged requests with the whole body (200).
    pub ignore_range: bool,
    /// Answer `POST /schematics` with this ID instead of the body's SHA-256.
    pub schematic_id: Option<String>,
}

/// An image generated on the fly for every request (too large to keep in memory).
#[derive(Debug, Clone, Copy)]
pub struct Generated {
    pub raw_bytes: u64,
    pub seed: u64,
}

#[derive(Default)]
struct Inner {
    images: HashMap<String, Arc<Vec<u8>>>,
    generated: HashMap<String, Generated>,
    generated_digest: Option<Expected>,
    seen: Vec<Seen>,
    faults: Faults,
    schematics: HashMap<String, String>,
    versions: Vec<String>,
    extensions: HashMap<String, serde_json::Value>,
}

/// The running server.
#[derive(Clone)]
pub struct TestFactory {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl TestFactory {
    /// Starts a server on 127.0.0.1:0 in the current Tokio runtime.
    pub async fn start() -> TestFactory {
        let inner = Arc::new(Mutex::new(Inner {
            versions: vec!["v1.10.7".into(), "v1.11.0".into(), "v1.11.1".into()],
            ..Inner::default()
        }));
        {
            let mut state = inner.lock().expect("lock");
            state.extensions.insert(
                "v1.11.1".into(),
                serde_json::json!([
                    {"name": "siderolabs/qemu-guest-agent", "ref": "ghcr.io/siderolabs/qemu-guest-agent:10.0.2",
                     "digest": "sha256:1111", "author": "Sidero Labs", "description": "QEMU guest agent"},
                    {"name": "siderolabs/iscsi-tools", "ref": "ghcr.io/siderolabs/iscsi-tools:v0.2.0",
                     "digest": "sha256:2222", "author": "Sidero Labs", "description": "iSCSI tools"}
                ]),
            );
        }
        let app = Router::new()
            .route("/schematics", post(create_schematic))
            .route("/schematics/{id}", get(find_schematic))
            .route("/versions", get(versions))
            .route("/version/{version}/extensions/official", get(extensions))
            .route("/image/{*path}", any(image))
            .route("/redirect/{*path}", get(redirect))
            .route("/fail/{status}/{*path}", any(fail))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestFactory {
            url: format!("http://{addr}"),
            inner,
        }
    }

    /// Serves `bytes` at `/image/{path}`.
    pub fn add_image(&self, path: &str, bytes: Vec<u8>) {
        self.inner
            .lock()
            .expect("lock")
            .images
            .insert(path.to_string(), Arc::new(bytes));
    }

    /// Serves a zstd image of `raw_bytes` generated on the fly at `/image/{path}`.
    pub fn add_generated(&self, path: &str, generated: Generated) {
        self.inner
            .lock()
            .expect("lock")
            .generated
            .insert(path.to_string(), generated);
    }

    /// The digests of the last generated image served to the end.
    pub fn generated_digest(&self) -> Option<Expected> {
        self.inner.lock().expect("lock").generated_digest.clone()
    }

    /// Sets the faults.
    pub fn set_faults(&self, faults: Faults) {
        self.inner.lock().expect("lock").faults = faults;
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().expect("lock").seen.clone()
    }

    /// The schematics pushed so far (id → body).
    pub fn schematics(&self) -> HashMap<String, String> {
        self.inner.lock().expect("lock").schematics.clone()
    }
}

type Shared = State<Arc<Mutex<Inner>>>;

fn record(state: &Arc<Mutex<Inner>>, method: &Method, path: &str, headers: &HeaderMap) {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    state.lock().expect("lock").seen.push(Seen {
        method: method.to_string(),
        path: path.to_string(),
        range,
    });
}

async fn create_schematic(State(state): Shared, headers: HeaderMap, body: Bytes) -> Response {
    record(&state, &Method::POST, "/schematics", &headers);
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut inner = state.lock().expect("lock");
    let id = inner
        .faults
        .schematic_id
        .clone()
        .unwrap_or_else(|| hex::encode(Sha256::digest(&body)));
    inner.schematics.insert(id.clone(), text.clone());
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"id": id, "schematic": text}).to_string(),
    )
        .into_response()
}

async fn find_schematic(State(state): Shared, Path(id): Path<String>) -> Response {
    match state.lock().expect("lock").schematics.get(&id) {
        Some(body) => (StatusCode::OK, body.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "schematic not found\n").into_response(),
    }
}

async fn versions(State(state): Shared, headers: HeaderMap) -> Response {
    record(&state, &Method::GET, "/versions", &headers);
    let versions = state.lock().expect("lock").versions.clone();
    axum::Json(versions).into_response()
}

async fn extensions(State(state): Shared, Path(version): Path<String>) -> Response {
    match state.lock().expect("lock").extensions.get(&version) {
        Some(list) => axum::Json(list.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "version not found\n").into_response(),
    }
}

async fn redirect(Path(path): Path<String>) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, format!("/image/{path}"))]).into_response()
}

async fn fail(Path((status, _path)): Path<(u16, String)>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, format!("injected failure {}\nsecond line\n", status.as_u16())).into_response()
}

async fn image(State(state): Shared, method: Method, Path(path): Path<String>, headers: HeaderMap) -> Response {
    record(&state, &method, &format!("/image/{path}"), &headers);
    let (bytes, generated, drop_after, ignore_range) = {
        let mut inner = state.lock().expect("lock");
        let drop_after = if method == Method::GET {
            inner.faults.drop_after.take()
        } else {
            None
        };
        (
            inner.images.get(&path).cloned(),
            inner.generated.get(&path).copied(),
            drop_after,
            inner.faults.ignore_range,
        )
    };
    if let Some(generated) = generated {
        return generated_response(state, generated);
    }
    let Some(bytes) = bytes else {
        return (StatusCode::NOT_FOUND, "image not found\n").into_response();
    };
    let len = bytes.len() as u64;
    let start = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|_| !ignore_range);
    let (status, start) = match start {
        Some(start) if start < len => (StatusCode::PARTIAL_CONTENT, start),
        Some(_) => return (StatusCode::RANGE_NOT_SATISFIABLE, "bad range\n").into_response(),
        None => (StatusCode::OK, 0),
    };
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, len - start)
        .header(header::CONTENT_TYPE, "application/zstd")
        .header(header::ACCEPT_RANGES, "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        response = response.header(header::CONTENT_RANGE, format!("bytes {start}-{}/{len}", len - 1));
    }
    if method == Method::HEAD {
        return response.body(Body::empty()).expect("response");
    }
    let end = drop_after.map_or(len, |d| (start + d).min(len));
    let chunks: Vec<Result<Bytes, std::io::Error>> = bytes[start as usize..end as usize]
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut stream: Vec<Result<Bytes, std::io::Error>> = chunks;
    if end < len {
        stream.push(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected drop",
        )));
    }
    response
        .body(Body::from_stream(futures::stream::iter(stream)))
        .expect("response")
}

/// Streams a zstd image generated while it is sent, recording its digests at the end.
fn generated_response(state: Arc<Mutex<Inner>>, generated: Generated) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    std::thread::spawn(move || {
        struct ChannelWriter {
            tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
            hasher: Sha256,
            bytes: u64,
        }
        impl Write for ChannelWriter {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.hasher.update(buf);
                self.bytes += buf.len() as u64;
                self.tx
                    .blocking_send(Ok(Bytes::copy_from_slice(buf)))
                    .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))?;
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let writer = ChannelWriter {
            tx,
            hasher: Sha256::new(),
            bytes: 0,
        };
        let mut encoder = match zstd::stream::write::Encoder::new(writer, 1) {
            Ok(e) => e,
            Err(_) => return,
        };
        let mut raw_hasher = Sha256::new();
        let mut block = vec![0u8; 1 << 20];
        let mut written = 0u64;
        let mut rng = generated.seed | 1;
        while written < generated.raw_bytes {
            let n = (generated.raw_bytes - written).min(block.len() as u64) as usize;
            block.iter_mut().for_each(|b| *b = 0);
            // A 4 KiB pseudo-random "sector" per MiB keeps the data from being trivial.
            for chunk in block[..n.min(4096)].chunks_mut(8) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let bytes = rng.to_le_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
            raw_hasher.update(&block[..n]);
            if encoder.write_all(&block[..n]).is_err() {
                return;
            }
            written += n as u64;
        }
        let Ok(writer) = encoder.finish() else { return };
        state.lock().expect("lock").generated_digest = Some(Expected {
            compressed_sha256: hex::encode(writer.hasher.finalize()),
            compressed_bytes: writer.bytes,
            raw_sha256: hex::encode(raw_hasher.finalize()),
            raw_bytes: written,
        });
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/zstd")
        .body(Body::from_stream(stream))
        .expect("response")
}

/// A deterministic, partly compressible pseudo-random disk image: runs of zeros, text-like
/// repeats and random 4 KiB blocks, like a sparse filesystem.
pub fn synthetic_image(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut rng = seed | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    while out.len() < len {
        let kind = next() % 4;
        let block_len = 4096.min(len - out.len());
        match kind {
            0 => out.extend(std::iter::repeat_n(0u8, block_len)),
            1 => {
                let pattern = next().to_le_bytes();
                out.extend((0..block_len).map(|i| pattern[i % 8] & 0x7f));
            }
            _ => {
                for _ in 0..block_len.div_ceil(8) {
                    let word = next().to_le_bytes();
                    let room = (len - out.len()).min(8);
                    out.extend_from_slice(&word[..room]);
                }
            }
        }
    }
    out.truncate(len);
    out
}

/// SHA-256 in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A raw HTTP/1.1 server for one image whose first response ends cleanly (FIN) after
/// `drop_at` body bytes of a larger announced length, so the client has received exactly
/// those bytes when the connection drops. Later requests honour `Range: bytes=N-` with
/// `206` and `Content-Range`, or, with `ignore_range`, answer `200` with the whole image.
pub struct DroppingServer {
    pub url: String,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

impl DroppingServer {
    pub async fn start(image: Vec<u8>, drop_at: usize, ignore_range: bool) -> DroppingServer {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let ranges: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let image = Arc::new(image);
        let seen = ranges.clone();
        tokio::spawn(async move {
            let mut first = true;
            while let Ok((socket, _)) = listener.accept().await {
                let drop_here = std::mem::replace(&mut first, false);
                let image = image.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut reader = BufReader::new(socket);
                    let mut range = None;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("range")
                        {
                            range = Some(value.trim().to_string());
                        }
                    }
                    seen.lock().expect("lock").push(range.clone());
                    let len = image.len();
                    let start = range
                        .as_deref()
                        .and_then(|r| r.strip_prefix("bytes="))
                        .and_then(|r| r.strip_suffix('-'))
                        .and_then(|r| r.parse::<usize>().ok())
                        .filter(|_| !ignore_range);
                    let (head, body) = match start {
                        Some(start) if start < len => (
                            format!(
                                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{len}\r\nConnection: close\r\n\r\n",
                                len - start,
                                len - 1
                            ),
                            &image[start..],
                        ),
                        _ => (
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"),
                            if drop_here { &image[..drop_at] } else { &image[..] },
                        ),
                    };
                    let mut socket = reader.into_inner();
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(body).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        DroppingServer {
            url: format!("http://{addr}/image.raw"),
            ranges,
        }
    }

    /// The `Range` header of every request, in order.
    pub fn ranges(&self) -> Vec<Option<String>> {
        self.ranges.lock().expect("lock").clone()
    }
}
