//! Leader election: which of several `pmflow run` processes scans each system.
//!
//! Without ZooKeeper a process leads every system. With ZooKeeper, each system has
//! its own session and campaigns under `/pmflow/<system>` with the crate's lock recipe
//! (ephemeral sequential znodes, Curator's `LeaderLatch` layout; each contender watches
//! only its predecessor). The node's data names the holder (`host:pid`).
//!
//! A process stops leading at once when its session is disconnected, expires or is
//! closed, and campaigns again with a new session; the others take over once the old
//! session's node is gone (at most the session timeout). On shutdown the session is
//! closed so that a successor need not wait for it to expire.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zookeeper_client::{
    Acls, Client, CreateMode, LockOptions, LockPrefix, SessionState, StateWatcher,
};

use crate::cluster::members::{self, Membership};
use crate::telemetry;

/// Where and how to reach ZooKeeper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZooKeeperSettings {
    /// Connect string: `host:port[,host:port…][/chroot]` (the chroot must exist).
    pub connect: String,
    /// Session timeout (ZooKeeper raises it to at least twice its tick time).
    pub session_timeout: Duration,
}

/// Whether this process leads a system, as the election last decided.
pub type Leadership = watch::Receiver<bool>;

/// Parent of every system's election znodes.
const ROOT: &str = "/pmflow";

/// Longest wait between two attempts to reach ZooKeeper.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

/// How long shutdown waits for a session to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Leadership of a process that runs without ZooKeeper: it leads always.
pub fn sole_leader(system: &str) -> Leadership {
    telemetry::leader(system, true);
    watch::channel(true).1
}

/// Starts campaigning for `system`; the returned task runs until `stop` and closes
/// its session before it ends. In cluster mode the session also keeps this process's
/// `membership` ([`members::keep`]).
pub fn campaign(
    settings: ZooKeeperSettings,
    system: String,
    membership: Option<Arc<Membership>>,
    stop: CancellationToken,
) -> (Leadership, tokio::task::JoinHandle<()>) {
    let (leading, leadership) = watch::channel(false);
    telemetry::leader(&system, false);
    let task = tokio::spawn(async move {
        let mut delay = Duration::from_millis(250);
        while !stop.is_cancelled() {
            let session =
                lead_one_session(&settings, &system, &leading, membership.as_deref(), &stop);
            match session.await {
                Ok(()) => delay = Duration::from_millis(250),
                Err(error) => {
                    warn!(system, %error, zookeeper = settings.connect, "leader election failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stop.cancelled() => {}
                    }
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
    });
    (leadership, task)
}

/// One session: connect, wait to be first in line, lead until the session is in
/// trouble or `stop`; then give leadership up and close the session.
async fn lead_one_session(
    settings: &ZooKeeperSettings,
    system: &str,
    leading: &watch::Sender<bool>,
    membership: Option<&Membership>,
    stop: &CancellationToken,
) -> Result<(), zookeeper_client::Error> {
    let connect = Client::connector()
        .with_session_timeout(settings.session_timeout)
        .connect(&settings.connect);
    let client = tokio::select! {
        client = connect => client?,
        () = stop.cancelled() => return Ok(()),
    };
    let mut state = client.state_watcher();
    let dir = format!("{ROOT}/{system}");
    let prefix = LockPrefix::new_curator(&dir, "latch-")?;
    let options = LockOptions::new(Acls::anyone_all())
        .with_ancestor_options(CreateMode::Persistent.with_acls(Acls::anyone_all()))?;
    let election = async {
        let holder = process_name();
        let lock = tokio::select! {
            lock = client.lock(prefix, holder.as_bytes(), options) => Some(lock?),
            trouble = session_trouble(&mut state) => {
                warn!(system, state = ?trouble, "ZooKeeper session lost while waiting to lead");
                None
            }
            () = stop.cancelled() => None,
        };
        if let Some(lock) = lock {
            leading.send_replace(true);
            telemetry::leader(system, true);
            info!(
                system,
                node = lock.lock_path(),
                holder,
                "leading this system"
            );
            let trouble = tokio::select! {
                trouble = session_trouble(&mut state) => Some(trouble),
                () = stop.cancelled() => None,
            };
            leading.send_replace(false);
            telemetry::leader(system, false);
            match trouble {
                Some(state) => warn!(system, ?state, "ZooKeeper session lost; no longer leading"),
                None => info!(system, "stopping; giving up leadership"),
            }
            drop(lock);
        }
        Ok::<(), zookeeper_client::Error>(())
    };
    let member = async {
        if let Some(membership) = membership {
            let Err(error) = members::keep(&client, system, &process_name(), membership).await;
            warn!(system, %error, "cannot keep this cluster member's znode");
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        elected = election => elected?,
        () = member => unreachable!("never completes"),
    }
    drop(client);
    // The session closes once its last client is gone; wait for it so a successor
    // need not wait for the session to expire.
    let closed = async {
        while !matches!(
            state.changed().await,
            SessionState::Closed | SessionState::Expired | SessionState::AuthFailed
        ) {}
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closed).await;
    Ok(())
}

/// Waits until the session is anything but connected, and says what it became.
async fn session_trouble(state: &mut StateWatcher) -> SessionState {
    loop {
        match state.changed().await {
            SessionState::SyncConnected => continue,
            other => return other,
        }
    }
}

/// `host:pid`: this process as operators see it (the election node's data, the
/// cluster member's client id).
pub fn process_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    format!("{host}:{}", std::process::id())
}
