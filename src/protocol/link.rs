//! Connections: the accept loop ([`serve`]), outbound connections with one cached link per
//! peer address ([`Connector`]), and the [`Link`] handle both hand out.
//!
//! Why it looks like this (spec §1.2, §2.2, §7.4): a worker answers only on the connection a
//! task arrived on, so the master keeps one long-lived connection per worker, reads commands on
//! it exactly as on its server port, and writes replies on the connection a message came in on.
//! Every decoded frame from any connection therefore becomes an [`Inbound`] on one channel,
//! carrying the [`Link`] to answer on.
//!
//! Each connection is one task running a reader and a writer:
//! * the reader decodes frames, drops `HEART_BEAT`s, skips (with a warning naming the peer)
//!   frames whose type byte the dialect lacks or whose body does not parse, and closes only
//!   this connection on a framing error (bad magic/version/length), as a Java peer would;
//! * the writer drains the link's send queue, and on outbound ("client") connections writes a
//!   `HEART_BEAT` after [`LinkOptions::client_heartbeat`] without reads and again every period
//!   while silence lasts (Java's `IdleStateHandler(readerIdle = 6 s)`); inbound ("server")
//!   connections are closed after [`LinkOptions::server_idle`] with neither reads nor writes
//!   (Java's 181 s all-idle handler).
//!
//! Sending is fire-and-forget, as on the Java side: [`Link::send`] encodes synchronously (so a
//! type the peer's dialect lacks is refused before anything is queued) and queues the frame.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

use super::command::{BodyError, Command, HEART_BEAT_BODY};
use super::dialect::{CommandType, Dialect};
use super::frame::{next_opaque, Frame, FrameCodec, FrameError, FrameKind, DEFAULT_MAX_FRAME};

/// How long a closing connection may spend flushing its queued frames.
const FLUSH_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Frames written before one flush when the queue is busy.
const WRITE_BATCH: usize = 64;

/// Settings shared by the server and the connector of one process role.
#[derive(Clone, Debug)]
pub struct LinkOptions {
    /// The type-byte dialect of the cluster (configured; it cannot be negotiated).
    pub dialect: Dialect,
    /// Largest context + body accepted or sent in one frame.
    pub max_frame: usize,
    /// Most simultaneously accepted connections; further peers wait in the backlog.
    pub max_connections: usize,
    /// Outbound connections write a HEART_BEAT after this long without reads (Java: 6 s).
    pub client_heartbeat: Duration,
    /// Accepted connections close after this long without reads or writes (Java: 181 s).
    pub server_idle: Duration,
    /// Dial timeout, name resolution included (Java: 3 s).
    pub connect_timeout: Duration,
    /// Frames a link may have queued before [`Link::send`] reports back-pressure.
    pub send_queue: usize,
    /// The master's registry fence, checked by the writer right before frames go out: a
    /// master that lost (or cannot confirm) its session sends nothing. `None`: never fenced.
    pub fence: Option<crate::registry::Fence>,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            dialect: Dialect::B,
            max_frame: DEFAULT_MAX_FRAME,
            max_connections: 4096,
            client_heartbeat: Duration::from_secs(6),
            server_idle: Duration::from_secs(181),
            connect_timeout: Duration::from_secs(3),
            send_queue: 4096,
            fence: None,
        }
    }
}

/// Why a link could not be obtained or a command not queued.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("connection to {peer} is closed")]
    Closed { peer: SocketAddr },
    #[error("send queue to {peer} is full ({capacity} frames pending)")]
    Backlogged { peer: SocketAddr, capacity: usize },
    #[error("cannot send {command} to {peer}: {source}")]
    Encode {
        peer: SocketAddr,
        command: CommandType,
        #[source]
        source: BodyError,
    },
    #[error("invalid peer address {addr:?}: expected \"host:port\"")]
    Address { addr: String },
    #[error("connecting to {addr} timed out after {timeout:?}")]
    ConnectTimeout { addr: String, timeout: Duration },
    #[error("connecting to {addr} failed: {source}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("connector is shut down; not dialing {addr}")]
    Shutdown { addr: String },
}

/// A decoded command that arrived on some connection, with the link to answer on.
#[derive(Clone, Debug)]
pub struct Inbound {
    pub link: Link,
    pub opaque: i64,
    pub command: Command,
}

/// Handle to one TCP connection. Cheap to clone; equal handles denote the same connection.
#[derive(Clone)]
pub struct Link {
    shared: Arc<Shared>,
}

struct Shared {
    id: u64,
    peer: SocketAddr,
    dialect: Dialect,
    outbound: bool,
    capacity: usize,
    tx: mpsc::Sender<Frame>,
    closed: CancellationToken,
    /// Set by [`Link::abort`]: the connection is reset, not closed in order.
    aborted: std::sync::atomic::AtomicBool,
}

static LINK_IDS: AtomicU64 = AtomicU64::new(1);

impl Link {
    /// The remote address of the connection (for an outbound link, the address dialed).
    pub fn peer(&self) -> SocketAddr {
        self.shared.peer
    }

    /// Per-process connection number, for logs.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    pub fn dialect(&self) -> Dialect {
        self.shared.dialect
    }

    /// True if this process dialed the connection (via [`Connector`]), false if accepted.
    pub fn is_outbound(&self) -> bool {
        self.shared.outbound
    }

    /// Queues `command` with a fresh opaque. Fire-and-forget: success means queued, not
    /// delivered (as `writeAndFlush` without waiting on the Java side).
    pub fn send(&self, command: impl Into<Command>) -> Result<(), LinkError> {
        self.send_with_opaque(command, next_opaque())
    }

    /// Queues `command` with a given opaque: only `TASK_RECALL_ACK` echoes the opaque of the
    /// frame it answers.
    pub fn send_with_opaque(
        &self,
        command: impl Into<Command>,
        opaque: i64,
    ) -> Result<(), LinkError> {
        let command = command.into();
        let peer = self.shared.peer;
        if self.is_closed() {
            return Err(LinkError::Closed { peer });
        }
        let frame = command
            .encode(opaque, self.shared.dialect)
            .map_err(|source| LinkError::Encode {
                peer,
                command: command.command_type(),
                source,
            })?;
        self.shared.tx.try_send(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => LinkError::Backlogged {
                peer,
                capacity: self.shared.capacity,
            },
            mpsc::error::TrySendError::Closed(_) => LinkError::Closed { peer },
        })
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Resolves once the connection is closed (by either side, an error or shutdown).
    pub async fn closed(&self) {
        self.shared.closed.cancelled().await
    }

    /// Closes the connection after flushing what is queued.
    pub fn close(&self) {
        self.shared.closed.cancel();
    }

    /// Resets the connection: nothing queued is sent, and whatever the kernel still holds
    /// for the peer (frames not yet acknowledged, e.g. behind a partition) is discarded
    /// instead of being delivered once the network comes back.
    pub fn abort(&self) {
        self.shared.aborted.store(true, Ordering::Release);
        self.shared.closed.cancel();
    }

    fn is_aborted(&self) -> bool {
        self.shared.aborted.load(Ordering::Acquire)
    }
}

impl PartialEq for Link {
    fn eq(&self, other: &Self) -> bool {
        self.shared.id == other.shared.id
    }
}

impl Eq for Link {}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("id", &self.shared.id)
            .field("peer", &self.shared.peer)
            .field("outbound", &self.shared.outbound)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Last read/write times of a connection, in milliseconds since it opened (atomics, so the
/// reader and writer halves can share them without a lock).
struct Activity {
    opened: Instant,
    last_read: AtomicU64,
    last_write: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            last_read: AtomicU64::new(0),
            last_write: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn mark_read(&self) {
        self.last_read.store(self.now_ms(), Ordering::Relaxed);
    }

    fn mark_write(&self) {
        self.last_write.store(self.now_ms(), Ordering::Relaxed);
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    fn last_read(&self) -> Instant {
        self.at(self.last_read.load(Ordering::Relaxed))
    }

    fn last_activity(&self) -> Instant {
        let r = self.last_read.load(Ordering::Relaxed);
        let w = self.last_write.load(Ordering::Relaxed);
        self.at(r.max(w))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Accepted by [`serve`]: idle close.
    Server,
    /// Dialed by [`Connector`]: heartbeats.
    Client,
}

/// Starts the task of one connection and returns its link and the task.
/// Counts a connection in [`crate::metrics::LINKS_OPEN`] until its task ends or is dropped.
struct OpenLink(metrics::Gauge);

impl Drop for OpenLink {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

fn start_connection(
    stream: TcpStream,
    peer: SocketAddr,
    role: Role,
    opts: &LinkOptions,
    inbound: mpsc::Sender<Inbound>,
    closed: CancellationToken,
    permit: Option<OwnedSemaphorePermit>,
) -> (Link, impl std::future::Future<Output = ()> + Send + 'static) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "could not set TCP_NODELAY");
    }
    let capacity = opts.send_queue.max(1);
    let (tx, rx) = mpsc::channel(capacity);
    let link = Link {
        shared: Arc::new(Shared {
            id: LINK_IDS.fetch_add(1, Ordering::Relaxed),
            peer,
            dialect: opts.dialect,
            outbound: role == Role::Client,
            capacity,
            tx,
            closed,
            aborted: std::sync::atomic::AtomicBool::new(false),
        }),
    };
    let codec = FrameCodec::new(opts.dialect, opts.max_frame);
    let (read, write) = stream.into_split();
    let reader = FramedRead::new(read, codec.clone());
    let writer = FramedWrite::new(write, codec);
    let activity = Activity::new();
    let task_link = link.clone();
    let opts = opts.clone();
    let task = async move {
        let _permit = permit;
        let direction = if role == Role::Client { "out" } else { "in" };
        let open = metrics::gauge!(crate::metrics::LINKS_OPEN, "direction" => direction);
        open.increment(1.0);
        let _open = OpenLink(open);
        tracing::debug!(%peer, id = task_link.id(), outbound = role == Role::Client, "connection open");
        tokio::join!(
            read_loop(reader, &task_link, role, &opts, &activity, inbound),
            write_loop(writer, rx, &task_link, role, &opts, &activity),
        );
        tracing::debug!(%peer, id = task_link.id(), "connection closed");
    };
    (link, task)
}

async fn read_loop(
    mut reader: FramedRead<OwnedReadHalf, FrameCodec>,
    link: &Link,
    role: Role,
    opts: &LinkOptions,
    activity: &Activity,
    inbound: mpsc::Sender<Inbound>,
) {
    let peer = link.peer();
    let token = &link.shared.closed;
    loop {
        let idle_deadline = activity.last_activity() + opts.server_idle;
        let next = tokio::select! {
            _ = token.cancelled() => break,
            _ = sleep_until(idle_deadline), if role == Role::Server => {
                if Instant::now() >= activity.last_activity() + opts.server_idle {
                    tracing::info!(%peer, idle = ?opts.server_idle, "closing idle connection");
                    break;
                }
                continue;
            }
            next = reader.next() => next,
        };
        let frame = match next {
            None => {
                tracing::debug!(%peer, "connection closed by peer");
                break;
            }
            Some(Err(FrameError::Io(e))) => {
                tracing::warn!(%peer, error = %e, "read failed; closing connection");
                break;
            }
            Some(Err(e)) => {
                tracing::error!(%peer, error = %e, "invalid frame; closing connection");
                break;
            }
            Some(Ok(frame)) => frame,
        };
        activity.mark_read();
        let Some(command) = decode(&frame, link) else {
            continue;
        };
        let delivery = Inbound {
            link: link.clone(),
            opaque: frame.opaque,
            command,
        };
        tokio::select! {
            _ = token.cancelled() => break,
            sent = inbound.send(delivery) => if sent.is_err() {
                tracing::debug!(%peer, "inbound receiver gone; closing connection");
                break;
            },
        }
    }
    token.cancel();
}

/// Turns a frame into a command worth delivering; logs and skips everything else.
fn decode(frame: &Frame, link: &Link) -> Option<Command> {
    let peer = link.peer();
    match frame.kind {
        FrameKind::Unknown(type_byte) => {
            tracing::warn!(
                %peer,
                type_byte,
                dialect = %link.dialect(),
                "frame type unknown to the configured dialect; skipped"
            );
            None
        }
        FrameKind::Known(CommandType::HeartBeat) => {
            tracing::trace!(%peer, "heartbeat");
            None
        }
        FrameKind::Known(command) => match Command::decode(frame, link.dialect()) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(
                    %peer,
                    %command,
                    opaque = frame.opaque,
                    error = %e,
                    "undecodable body; frame skipped"
                );
                None
            }
        },
    }
}

async fn write_loop(
    mut writer: FramedWrite<OwnedWriteHalf, FrameCodec>,
    mut rx: mpsc::Receiver<Frame>,
    link: &Link,
    role: Role,
    opts: &LinkOptions,
    activity: &Activity,
) {
    let peer = link.peer();
    let token = &link.shared.closed;
    let mut last_heartbeat = activity.last_read();
    loop {
        let heartbeat_at = activity.last_read().max(last_heartbeat) + opts.client_heartbeat;
        let mut batch = Vec::new();
        tokio::select! {
            biased;
            _ = token.cancelled() => break,
            frame = rx.recv() => match frame {
                Some(f) => batch.push(f),
                None => break,
            },
            _ = sleep_until(heartbeat_at), if role == Role::Client => {
                let now = Instant::now();
                if now < activity.last_read().max(last_heartbeat) + opts.client_heartbeat {
                    continue;
                }
                last_heartbeat = now;
                tracing::trace!(%peer, "sending heartbeat");
                batch.push(heartbeat_frame());
            }
        }
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(f) => batch.push(f),
                Err(_) => break,
            }
        }
        if let Some(fence) = &opts.fence {
            if let Err(why) = fence.hold(crate::registry::fence::PATIENCE).await {
                tracing::warn!(%peer, frames = batch.len(), reason = %why, "registry fence: frames dropped and connection closed");
                token.cancel();
                return;
            }
        }
        let result = tokio::select! {
            r = write_batch(&mut writer, batch) => r,
            _ = token.cancelled() => {
                if link.is_aborted() {
                    reset(&writer, &peer);
                    return;
                }
                // Closing while a write is stuck: frames of this batch already encoded stay
                // in the codec's buffer and are flushed below; the rest are dropped.
                flush_queued(&mut writer, &mut rx, &peer, opts.fence.as_ref()).await;
                finish(&mut writer, &peer).await;
                return;
            }
        };
        match result {
            Ok(()) => activity.mark_write(),
            Err(e) => {
                tracing::warn!(%peer, error = %e, "write failed; closing connection");
                token.cancel();
                return;
            }
        }
    }
    if link.is_aborted() {
        reset(&writer, &peer);
        return;
    }
    flush_queued(&mut writer, &mut rx, &peer, opts.fence.as_ref()).await;
    finish(&mut writer, &peer).await;
}

/// Makes the coming close a reset (SO_LINGER 0): the kernel drops what it has not delivered.
fn reset(writer: &FramedWrite<OwnedWriteHalf, FrameCodec>, peer: &SocketAddr) {
    let stream: &TcpStream = writer.get_ref().as_ref();
    if let Err(e) = stream.set_zero_linger() {
        tracing::debug!(%peer, error = %e, "could not make the close a reset");
    }
    tracing::debug!(%peer, "connection reset");
}

/// What Java clients write after a period without reads.
fn heartbeat_frame() -> Frame {
    Frame::new(
        CommandType::HeartBeat,
        next_opaque(),
        bytes::Bytes::from_static(HEART_BEAT_BODY),
    )
}

async fn write_batch(
    writer: &mut FramedWrite<OwnedWriteHalf, FrameCodec>,
    batch: Vec<Frame>,
) -> Result<(), FrameError> {
    for frame in batch {
        writer.feed(frame).await?;
    }
    writer.flush().await
}

/// On close: write what is still queued (and whatever an interrupted write left in the
/// codec's buffer), bounded by [`FLUSH_GRACE`].
async fn flush_queued(
    writer: &mut FramedWrite<OwnedWriteHalf, FrameCodec>,
    rx: &mut mpsc::Receiver<Frame>,
    peer: &SocketAddr,
    fence: Option<&crate::registry::Fence>,
) {
    rx.close();
    let mut batch = Vec::new();
    while let Ok(f) = rx.try_recv() {
        batch.push(f);
    }
    if let Some(why) = fence.and_then(|f| f.check().err()) {
        tracing::debug!(%peer, frames = batch.len(), reason = %why, "registry fence: queued frames dropped at close");
        return;
    }
    let n = batch.len();
    match timeout(FLUSH_GRACE, write_batch(writer, batch)).await {
        Ok(Ok(())) => tracing::trace!(%peer, frames = n, "flushed before close"),
        Ok(Err(e)) => tracing::debug!(%peer, frames = n, error = %e, "queued frames lost at close"),
        Err(_) => tracing::warn!(%peer, frames = n, "flush at close timed out; queued frames lost"),
    }
}

async fn finish(writer: &mut FramedWrite<OwnedWriteHalf, FrameCodec>, peer: &SocketAddr) {
    if let Ok(Err(e)) = timeout(FLUSH_GRACE, writer.get_mut().shutdown()).await {
        tracing::trace!(%peer, error = %e, "shutdown of write half failed");
    }
}

/// Accepts connections until `shutdown` is cancelled, then stops accepting, closes every
/// accepted connection after flushing its queue, and returns once they are all gone.
///
/// At most [`LinkOptions::max_connections`] connections are served at once; a failing
/// connection only ever closes itself.
pub async fn serve(
    listener: TcpListener,
    opts: LinkOptions,
    inbound: mpsc::Sender<Inbound>,
    shutdown: CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let local = listener.local_addr().ok();
    tracing::info!(addr = ?local, dialect = %opts.dialect, "accepting connections");
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(addr = ?local, error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let (_link, task) = start_connection(
            stream,
            peer,
            Role::Server,
            &opts,
            inbound.clone(),
            shutdown.child_token(),
            Some(permit),
        );
        connections.spawn(task);
    }
    drop(listener);
    tracing::info!(addr = ?local, open = connections.len(), "stopped accepting; closing connections");
    while connections.join_next().await.is_some() {}
}

/// Outbound connections of one process role, one cached [`Link`] per `host:port`, dialed on
/// demand and redialed on demand after they close (as Java's `NettyRemotingClient`).
#[derive(Clone)]
pub struct Connector {
    inner: Arc<ConnectorInner>,
}

struct ConnectorInner {
    opts: LinkOptions,
    inbound: mpsc::Sender<Inbound>,
    /// One slot per address; the async mutex serialises dials to the same peer without
    /// blocking dials to others.
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Link>>>>>,
    shutdown: CancellationToken,
}

impl Connector {
    /// Commands arriving on any link this connector opens are delivered on `inbound`.
    pub fn new(opts: LinkOptions, inbound: mpsc::Sender<Inbound>) -> Connector {
        Connector {
            inner: Arc::new(ConnectorInner {
                opts,
                inbound,
                slots: Mutex::new(HashMap::new()),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    pub fn options(&self) -> &LinkOptions {
        &self.inner.opts
    }

    /// The live link to `addr` (`"ip:port"`), dialing it if there is none.
    pub async fn link(&self, addr: &str) -> Result<Link, LinkError> {
        self.link_fresh(addr).await.map(|(link, _)| link)
    }

    /// Like [`Connector::link`], and says whether the link was dialed by this call (`true`):
    /// the first connection to a peer or a reconnection after the previous one closed. The
    /// dispatcher uses it to re-bind running tasks with `PROCESS_HOST_UPDATE_REQUEST`,
    /// since results of tasks dispatched over a lost connection are stranded on the worker.
    pub async fn link_fresh(&self, addr: &str) -> Result<(Link, bool), LinkError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(LinkError::Shutdown {
                addr: addr.to_string(),
            });
        }
        let slot = {
            let mut slots = self
                .inner
                .slots
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            slots.entry(addr.to_string()).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(link) = slot.as_ref() {
            if !link.is_closed() {
                return Ok((link.clone(), false));
            }
        }
        let link = self.dial(addr).await?;
        *slot = Some(link.clone());
        Ok((link, true))
    }

    /// The cached link to `addr` if it is open; never dials.
    pub fn cached(&self, addr: &str) -> Option<Link> {
        let slot = {
            let slots = self
                .inner
                .slots
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            slots.get(addr).cloned()
        }?;
        let guard = slot.try_lock().ok()?;
        guard.as_ref().filter(|l| !l.is_closed()).cloned()
    }

    /// Closes every link (after flushing) and refuses further dials.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    async fn dial(&self, addr: &str) -> Result<Link, LinkError> {
        let opts = &self.inner.opts;
        let valid = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !valid {
            return Err(LinkError::Address {
                addr: addr.to_string(),
            });
        }
        let stream = tokio::select! {
            _ = self.inner.shutdown.cancelled() => {
                return Err(LinkError::Shutdown { addr: addr.to_string() });
            }
            r = timeout(opts.connect_timeout, TcpStream::connect(addr)) => match r {
                Err(_) => {
                    return Err(LinkError::ConnectTimeout {
                        addr: addr.to_string(),
                        timeout: opts.connect_timeout,
                    })
                }
                Ok(Err(source)) => {
                    return Err(LinkError::Connect {
                        addr: addr.to_string(),
                        source,
                    })
                }
                Ok(Ok(s)) => s,
            },
        };
        let peer = stream.peer_addr().map_err(|source| LinkError::Connect {
            addr: addr.to_string(),
            source,
        })?;
        let (link, task) = start_connection(
            stream,
            peer,
            Role::Client,
            opts,
            self.inner.inbound.clone(),
            self.inner.shutdown.child_token(),
            None,
        );
        tokio::spawn(task);
        tracing::info!(%addr, id = link.id(), "connected");
        Ok(link)
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("dialect", &self.inner.opts.dialect)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command::{DbTaskAckCommand, TaskExecuteAckCommand};

    async fn server(opts: LinkOptions) -> (SocketAddr, mpsc::Receiver<Inbound>, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel(16);
        let token = CancellationToken::new();
        tokio::spawn(serve(listener, opts, tx, token.clone()));
        (addr, rx, token)
    }

    #[tokio::test]
    async fn reuses_and_redials() {
        let (addr, mut srx, token) = server(LinkOptions::default()).await;
        let (ctx, _crx) = mpsc::channel(16);
        let connector = Connector::new(LinkOptions::default(), ctx);
        let a = addr.to_string();
        let (l1, fresh1) = connector.link_fresh(&a).await.unwrap();
        let (l2, fresh2) = connector.link_fresh(&a).await.unwrap();
        assert!(fresh1 && !fresh2);
        assert_eq!(l1, l2);
        l1.send(TaskExecuteAckCommand::default()).unwrap();
        let got = srx.recv().await.unwrap();
        got.link.close();
        l1.closed().await;
        let (l3, fresh3) = connector.link_fresh(&a).await.unwrap();
        assert!(fresh3);
        assert_ne!(l1, l3);
        assert!(matches!(
            l1.send(DbTaskAckCommand::success(1)),
            Err(LinkError::Closed { .. })
        ));
        token.cancel();
    }

    #[tokio::test]
    async fn refuses_types_the_dialect_lacks() {
        let (addr, _srx, token) = server(LinkOptions::default()).await;
        let (ctx, _crx) = mpsc::channel(16);
        let connector = Connector::new(LinkOptions::default(), ctx);
        let link = connector.link(&addr.to_string()).await.unwrap();
        let err = link
            .send(crate::protocol::command::TaskRecallAckCommand::success(1))
            .unwrap_err();
        assert!(matches!(
            err,
            LinkError::Encode {
                command: CommandType::TaskRecallAck,
                ..
            }
        ));
        token.cancel();
    }

    #[tokio::test]
    async fn bad_addresses_and_refused_connections() {
        let (ctx, _crx) = mpsc::channel(16);
        let connector = Connector::new(LinkOptions::default(), ctx);
        assert!(matches!(
            connector.link("nonsense").await,
            Err(LinkError::Address { .. })
        ));
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        assert!(matches!(
            connector.link(&addr).await,
            Err(LinkError::Connect { .. })
        ));
        connector.shutdown();
        assert!(matches!(
            connector.link(&addr).await,
            Err(LinkError::Shutdown { .. })
        ));
    }
}
