//! The metrics and health endpoint (`dsmaster.metrics.port`; off by default).
//!
//! - `GET /metrics`: every figure of [`crate::metrics`] in Prometheus text format.
//! - `GET /health/live`: 200 while the process serves HTTP at all.
//! - `GET /health/ready`: 200 once this master is registered in ZooKeeper and holds its
//!   session, the database answers within a second, and it holds a master slot; 503 with the
//!   failing check otherwise (also while starting and stopping), never an error page.
//!
//! It starts before the database and ZooKeeper are reached, so a container health check and
//! an operator see "starting" rather than a refused connection while the master retries them.

use crate::engine::Instances;
use crate::registry::{Fence, MasterSlot};
use crate::store::Store;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How long the readiness check and a scrape wait for the database.
const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Histogram upkeep period (the exporter drains recorded samples on upkeep).
const UPKEEP: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("metrics and health port {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Recorder(String),
}

/// What the endpoint reads, filled in by `server::start` as each part comes up. Holds no
/// registry handle: the ZooKeeper session must close when the master lets go of it.
#[derive(Default)]
pub struct Probe {
    store: OnceLock<Store>,
    fence: OnceLock<Fence>,
    slot: OnceLock<watch::Receiver<Option<MasterSlot>>>,
    instances: OnceLock<Instances>,
    registered: AtomicBool,
    stopping: AtomicBool,
}

impl Probe {
    pub fn set_store(&self, store: Store) {
        let _ = self.store.set(store);
    }

    /// Our node is in ZooKeeper; readiness now follows the session's fence and the slot.
    pub fn set_registered(
        &self,
        fence: Fence,
        slot: watch::Receiver<Option<MasterSlot>>,
        instances: Instances,
    ) {
        let _ = self.fence.set(fence);
        let _ = self.slot.set(slot);
        let _ = self.instances.set(instances);
        self.registered.store(true, Ordering::Release);
    }

    /// The master is shutting down (signal or lost session): not ready from now on.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    fn session_held(&self) -> bool {
        self.registered.load(Ordering::Acquire)
            && self.fence.get().is_some_and(|f| f.check().is_ok())
    }

    fn slot(&self) -> Option<MasterSlot> {
        self.slot.get().and_then(|s| *s.borrow())
    }

    async fn commands_waiting(&self) -> Result<i64, String> {
        let Some(store) = self.store.get() else {
            return Err("not connected yet".into());
        };
        match tokio::time::timeout(DB_PROBE_TIMEOUT, store.count_commands()).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {DB_PROBE_TIMEOUT:?}")),
        }
    }

    /// Readiness and one line per check.
    async fn ready(&self) -> (bool, String) {
        if self.stopping.load(Ordering::Acquire) {
            return (false, "stopping\n".into());
        }
        let mut ok = true;
        let mut text = String::new();
        match self.commands_waiting().await {
            Ok(n) => text.push_str(&format!("database: ok ({n} commands waiting)\n")),
            Err(e) => {
                ok = false;
                text.push_str(&format!("database: down: {e}\n"));
            }
        }
        if !self.registered.load(Ordering::Acquire) {
            ok = false;
            text.push_str("registry: not registered yet\n");
        } else if self.session_held() {
            text.push_str("registry: session held\n");
        } else {
            ok = false;
            text.push_str("registry: session not held\n");
        }
        match self.slot() {
            Some(s) => text.push_str(&format!("slot: {} of {}\n", s.index, s.size)),
            None => {
                ok = false;
                text.push_str("slot: none\n");
            }
        }
        (ok, text)
    }

    /// Sets the gauges that are readings of state, just before a scrape renders them.
    async fn refresh_gauges(&self) {
        use crate::metrics as m;
        let running = self.instances.get().map(|i| i.len()).unwrap_or(0);
        metrics::gauge!(m::WORKFLOWS_RUNNING).set(running as f64);
        metrics::gauge!(m::REGISTRY_SESSION).set(if self.session_held() { 1.0 } else { 0.0 });
        let slot = self.slot();
        metrics::gauge!(m::MASTER_SLOT).set(slot.map(|s| s.index as f64).unwrap_or(-1.0));
        metrics::gauge!(m::MASTERS).set(slot.map(|s| s.size as f64).unwrap_or(0.0));
        match self.commands_waiting().await {
            Ok(n) => metrics::gauge!(m::COMMANDS_WAITING).set(n as f64),
            Err(e) => debug!(error = %e, "commands waiting not read for this scrape"),
        }
    }
}

/// Binds `addr` and serves until `stop` is cancelled; returns the bound address (port 0
/// picks a free one).
pub async fn start(
    addr: SocketAddr,
    probe: Arc<Probe>,
    stop: CancellationToken,
) -> Result<SocketAddr, Error> {
    let handle = crate::metrics::install().map_err(Error::Recorder)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    info!(addr = %bound, "metrics and health endpoint listening (/metrics, /health/live, /health/ready)");
    tokio::spawn(serve(listener, probe, handle, stop));
    Ok(bound)
}

async fn serve(
    listener: tokio::net::TcpListener,
    probe: Arc<Probe>,
    handle: &'static PrometheusHandle,
    stop: CancellationToken,
) {
    let mut upkeep = tokio::time::interval(UPKEEP);
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            _ = upkeep.tick() => {
                handle.run_upkeep();
                continue;
            }
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let probe = probe.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let probe = probe.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(&probe, handle, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                r = conn => if let Err(e) = r {
                    debug!(error = %e, "metrics endpoint: connection ended with an error");
                },
                _ = stop.cancelled() => {}
            }
        });
    }
    debug!("metrics endpoint stopped");
}

async fn respond<B>(
    probe: &Probe,
    handle: &PrometheusHandle,
    req: Request<B>,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match req.uri().path() {
        "/metrics" => {
            probe.refresh_gauges().await;
            let mut response = text(StatusCode::OK, handle.render());
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/health/live" => text(StatusCode::OK, "live\n".into()),
        "/health/ready" | "/health" => {
            let (ok, body) = probe.ready().await;
            let status = if ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            text(status, body)
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /health/live or /health/ready\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

/// `dsmaster health`: one GET of `path` on the local endpoint; `Ok` on 200, else the status
/// line or the error. A client this small is enough for a container health check.
pub async fn check(port: u16, path: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&reply).into_owned())
    };
    let reply = tokio::time::timeout(Duration::from_secs(5), io)
        .await
        .map_err(|_| format!("127.0.0.1:{port}{path}: no answer within 5 s"))?
        .map_err(|e| format!("127.0.0.1:{port}{path}: {e}"))?;
    let status_line = reply.lines().next().unwrap_or_default().to_string();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(body)
    } else {
        Err(format!("{status_line}\n{body}"))
    }
}
