//! A bounded pool of logged-in FTP control connections to one server.
//!
//! Opening an FTP session costs several round trips (greeting, `USER`, `PASS`,
//! `TYPE`), and servers limit sessions per client, so the source keeps at most `pool`
//! of them open and shares them among its workers. A connection is checked with `NOOP`
//! each time it is taken from the pool; one that failed is closed rather than pooled
//! again, and the next request opens a fresh one.

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use suppaftp::tokio::AsyncRustlsFtpStream;
use suppaftp::types::FileType;
use suppaftp::{FtpError, FtpResult};

use super::settings::FtpSettings;

/// One logged-in control connection, in binary mode.
pub type Connection = AsyncRustlsFtpStream;

/// The pool of a source's connections.
pub type FtpPool = managed::Pool<Connector>;

/// A connection taken from the pool; it goes back when dropped.
pub type Pooled = managed::Object<Connector>;

/// Opens and checks connections for the pool.
pub struct Connector {
    settings: FtpSettings,
}

impl managed::Manager for Connector {
    type Type = Connection;
    type Error = FtpError;

    async fn create(&self) -> FtpResult<Connection> {
        let connect = Connection::connect(self.settings.address.as_str());
        let mut ftp = tokio::time::timeout(self.settings.timeout, connect)
            .await
            .map_err(|elapsed| {
                FtpError::ConnectionError(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    elapsed,
                ))
            })??;
        ftp.login(&self.settings.user, &self.settings.password)
            .await?;
        ftp.transfer_type(FileType::Binary).await?;
        Ok(ftp)
    }

    async fn recycle(&self, ftp: &mut Connection, _: &Metrics) -> RecycleResult<FtpError> {
        ftp.noop().await.map_err(RecycleError::Backend)
    }
}

/// The pool for `settings`: `settings.pool` connections at most, opened on demand;
/// waiting for one, opening one and checking one each time out after
/// `settings.timeout`.
pub fn pool(settings: &FtpSettings) -> FtpPool {
    let timeout = Some(settings.timeout);
    managed::Pool::builder(Connector {
        settings: settings.clone(),
    })
    .max_size(settings.pool)
    .wait_timeout(timeout)
    .create_timeout(timeout)
    .recycle_timeout(timeout)
    .runtime(Runtime::Tokio1)
    .build()
    .expect("a pool with a runtime and a size builds")
}
