//! A private standalone ZooKeeper server.
//!
//! Started straight from the Debian jars with `ZooKeeperServerMain` and a
//! generated `zoo.cfg`, bypassing `zkServer.sh` and `/etc/zookeeper` so that
//! nothing on the machine is read or changed. `tickTime` stays at upstream's
//! default 2 s, giving the same 4–40 s session bounds as a production
//! ensemble, which matters for the failover tests. Logging goes through
//! slf4j-simple to a file in the temp dir; the admin HTTP server is off so no
//! second port is needed, and all four-letter words are enabled for
//! readiness checks and test assertions.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::ports::free_port;
use super::process::{log_tail, ServerProcess, Signal};
use super::Error;

const SERVER: &str = "ZooKeeper";
const JAR_DIR: &str = "/usr/share/java";
/// The JVM can be slow on a loaded 2-core CI box.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(15);

/// A running private ZooKeeper; killed and its directory deleted on drop.
pub struct ZooKeeper {
    // The process must be gone before the directory is removed.
    process: ServerProcess,
    /// The one address the server binds (`clientPortAddress`).
    ip: Ipv4Addr,
    port: u16,
    dir: TempDir,
}

impl ZooKeeper {
    /// Starts a standalone server on a free loopback port.
    pub async fn start() -> Result<ZooKeeper, Error> {
        Self::start_on(Ipv4Addr::LOCALHOST).await
    }

    /// Starts a standalone server bound to `ip` alone (a loopback address, or the host side
    /// of the test network for servers in namespaces).
    pub async fn start_on(ip: Ipv4Addr) -> Result<ZooKeeper, Error> {
        super::process::start_with_one_retry(SERVER, || Self::start_once(ip)).await
    }

    async fn start_once(ip: Ipv4Addr) -> Result<ZooKeeper, Error> {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("dsmaster-zookeeper-")
            .tempdir()
            .map_err(|e| Error::io("creating ZooKeeper temp dir", e))?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data)
            .map_err(|e| Error::io(format!("creating {}", data.display()), e))?;
        let port = free_port()?;
        let cfg = dir.path().join("zoo.cfg");
        let config = format!(
            "tickTime=2000\n\
             dataDir={}\n\
             clientPort={port}\n\
             clientPortAddress={ip}\n\
             maxClientCnxns=0\n\
             admin.enableServer=false\n\
             4lw.commands.whitelist=*\n",
            data.display()
        );
        std::fs::write(&cfg, config)
            .map_err(|e| Error::io(format!("writing {}", cfg.display()), e))?;

        let process = spawn_server(dir.path())?;
        let mut zk = ZooKeeper {
            process,
            ip,
            port,
            dir,
        };
        zk.wait_ready().await?;
        tracing::info!(
            "started ZooKeeper on {ip}:{port} in {:.1}s ({})",
            started.elapsed().as_secs_f64(),
            zk.dir.path().display()
        );
        Ok(zk)
    }

    async fn wait_ready(&mut self) -> Result<(), Error> {
        let started = Instant::now();
        let mut last_error;
        loop {
            if let Some(status) = self.process.exited() {
                return Err(Error::Exited {
                    server: SERVER,
                    port: self.port,
                    status: status.to_string(),
                    log_tail: log_tail(&self.log_path(), 30),
                });
            }
            match self.four_letter("ruok").await {
                Ok(answer) if answer == "imok" => return Ok(()),
                Ok(answer) => last_error = format!("ruok answered {answer:?}"),
                Err(e) => last_error = e.to_string(),
            }
            if started.elapsed() >= STARTUP_DEADLINE {
                return Err(Error::NotReady {
                    server: SERVER,
                    port: self.port,
                    waited: started.elapsed(),
                    last_error,
                    log_tail: log_tail(&self.log_path(), 30),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the master's `registry.zookeeper.connect-string` should say.
    pub fn connect_string(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// The temp directory holding config, data and log; gone after stop/drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server log, worth printing when a test fails.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("zookeeper.log")
    }

    /// Sends a four-letter command (`ruok`, `mntr`, `dump`, `cons`, ...) and
    /// returns the reply; lets tests inspect sessions and ephemeral nodes
    /// without a client library.
    pub async fn four_letter(&self, command: &str) -> Result<String, Error> {
        let (ip, port) = (self.ip, self.port);
        let io = |what: &str, e: std::io::Error| Error::ZooKeeper {
            port,
            message: format!("{what} for `{command}`: {e}"),
        };
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect((ip, port))
                .await
                .map_err(|e| io("connect", e))?;
            stream
                .write_all(command.as_bytes())
                .await
                .map_err(|e| io("write", e))?;
            let mut reply = String::new();
            stream
                .read_to_string(&mut reply)
                .await
                .map_err(|e| io("read", e))?;
            Ok(reply)
        };
        match tokio::time::timeout(Duration::from_secs(5), exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::ZooKeeper {
                port,
                message: format!("no reply to `{command}` within 5s"),
            }),
        }
    }

    /// Freezes the server (SIGSTOP) so that client sessions time out, as in a
    /// network partition from the registry.
    pub fn suspend(&self) {
        self.process.signal(Signal::Stop);
    }

    /// Undoes [`ZooKeeper::suspend`].
    pub fn resume(&self) {
        self.process.signal(Signal::Cont);
    }

    /// Stops and restarts the server on the same port and data, so sessions
    /// survive if the restart is quicker than their timeout (as in a rolling
    /// ZooKeeper upgrade). With `crash` the old server is SIGKILLed instead of
    /// shut down cleanly.
    pub async fn restart(&mut self, crash: bool) -> Result<(), Error> {
        let started = Instant::now();
        if crash {
            self.process.kill().await;
        } else {
            self.process.stop(STOP_GRACE).await;
        }
        self.process = spawn_server(self.dir.path())?;
        self.wait_ready().await?;
        tracing::info!(
            "restarted ZooKeeper on {}:{} in {:.1}s",
            self.ip,
            self.port,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Shuts the server down cleanly and deletes its directory.
    pub async fn stop(self) {
        let ZooKeeper {
            mut process,
            ip,
            port,
            dir,
        } = self;
        process.stop(STOP_GRACE).await;
        drop(process);
        let path = dir.path().to_path_buf();
        if let Err(e) = dir.close() {
            tracing::warn!("could not remove {}: {e}", path.display());
        }
        tracing::info!("stopped ZooKeeper on {ip}:{port}");
    }
}

fn spawn_server(dir: &Path) -> Result<ServerProcess, Error> {
    let zk_jar = Path::new(JAR_DIR).join("zookeeper.jar");
    if !zk_jar.is_file() {
        return Err(Error::Spawn {
            binary: zk_jar.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "ZooKeeper jar missing"),
        });
    }
    // The jar's manifest pulls in its own dependencies; only an slf4j backend
    // is ours to choose, and without one the server would log nothing.
    let mut classpath = zk_jar.display().to_string();
    let simple = Path::new(JAR_DIR).join("slf4j-simple.jar");
    if simple.is_file() {
        classpath.push(':');
        classpath.push_str(&simple.display().to_string());
    }

    let mut cmd = Command::new(java());
    cmd.current_dir(dir)
        .args([
            "-Xms32m",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss.SSS",
        ])
        .arg("-cp")
        .arg(classpath)
        .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
        .arg(dir.join("zoo.cfg"));
    ServerProcess::spawn(SERVER, cmd, &dir.join("zookeeper.log"), dir)
}

/// `$JAVA_HOME/bin/java` when set, so CI can pin a JDK; otherwise PATH.
fn java() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join("bin").join("java"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("java"))
}
