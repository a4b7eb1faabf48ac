//! A bounded pool of logged-in FTP control connections to one server.
//!
//! Opening an FTP session costs several round trips (greeting, `USER`, `PASS`,
//! `TYPE`), and servers limit sessions per client, so the source keeps at most `pool`
//! of them open and shares them among its workers. A connection idle for a while is
//! checked with `NOOP` when taken from the pool; one that failed is closed rather than
//! pooled again, and the next request opens a fresh one.

use std::sync::Arc;

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::tokio_rustls::TlsConnector;
use suppaftp::tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use suppaftp::types::FileType;
use suppaftp::{FtpError, FtpResult};

use super::settings::{FtpSettings, Security};

/// How long after its last use a pooled session is handed out without a `NOOP`.
const TRUSTED_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// One logged-in control connection, in binary mode.
pub type Connection = AsyncRustlsFtpStream;

/// The pool of a source's connections.
pub type FtpPool = managed::Pool<Connector>;

/// A connection taken from the pool; it goes back when dropped.
pub type Pooled = managed::Object<Connector>;

/// Opens and checks connections for the pool.
pub struct Connector {
    settings: FtpSettings,
    /// For `ftps://`: what secures each connection after `AUTH TLS`.
    tls: Option<TlsConnector>,
}

/// A TLS client trusting `ca`, or Mozilla's roots when `ca` is empty.
fn tls_connector(ca: &[rustls_pki_types::CertificateDer<'static>]) -> Result<TlsConnector, String> {
    let mut roots = RootCertStore::empty();
    if ca.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for certificate in ca {
        roots
            .add(certificate.clone())
            .map_err(|e| format!("CA certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
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
        if let Some(tls) = &self.tls {
            let tls = AsyncRustlsConnector::from(tls.clone());
            ftp = ftp.into_secure(tls, &self.settings.host).await?;
        }
        ftp.login(self.settings.user.as_str(), self.settings.password.expose())
            .await?;
        ftp.transfer_type(FileType::Binary).await?;
        Ok(ftp)
    }

    /// A session taken out again within [`TRUSTED_FOR`] is not checked: one that broke
    /// meanwhile fails its operation, which is retried on a fresh session.
    async fn recycle(&self, ftp: &mut Connection, metrics: &Metrics) -> RecycleResult<FtpError> {
        if metrics.last_used() < TRUSTED_FOR {
            return Ok(());
        }
        ftp.noop().await.map_err(RecycleError::Backend)
    }
}

/// The pool for `settings`: `settings.pool` connections at most, opened on demand;
/// waiting for one, opening one and checking one each time out after
/// `settings.timeout`. Fails when the TLS settings are unusable.
pub fn pool(settings: &FtpSettings) -> Result<FtpPool, String> {
    let timeout = Some(settings.timeout);
    let tls = match &settings.security {
        Security::Plain => None,
        Security::ExplicitTls { ca } => Some(tls_connector(ca)?),
    };
    let pool = managed::Pool::builder(Connector {
        settings: settings.clone(),
        tls,
    })
    .max_size(settings.pool)
    .wait_timeout(timeout)
    .create_timeout(timeout)
    .recycle_timeout(timeout)
    .runtime(Runtime::Tokio1)
    .build()
    .expect("a pool with a runtime and a size builds");
    Ok(pool)
}
