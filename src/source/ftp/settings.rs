//! The FTP source's URL: `ftp://user:pass@host:21/path/to/folder?pool=4`, or
//! `ftps://…` for explicit TLS (`AUTH TLS` on the control connection, then protected
//! data connections).
//!
//! | parameter | default | meaning |
//! |---|---|---|
//! | `pool` | 4 | connections to the server at most (listing, downloads, moves) |
//! | `retries` | 5 | retries of a failed download or move |
//! | `retry_base_ms` | 200 | first retry delay, doubled each time, with jitter |
//! | `timeout_ms` | 30000 | connecting, and waiting for a free connection |
//! | `ca` | Mozilla's roots | `ftps://` only: PEM file of the CA certificates the server's certificate must chain to |
//!
//! The user defaults to `anonymous`. A URL without a password takes it from
//! `PMFLOW_FTP_PASSWORD`. Transfers are binary, in passive mode. The server's
//! certificate must name the URL's host.

use std::time::Duration;

use percent_encoding::percent_decode_str;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use url::Url;

use crate::retry::{Backoff, whole_number};
use crate::secret::Secret;

/// Environment variable holding the password of an `ftp://` URL that has none.
pub const PASSWORD_ENV: &str = "PMFLOW_FTP_PASSWORD";

/// How connections to the server are protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// Plain FTP (`ftp://`).
    Plain,
    /// Explicit TLS (`ftps://`): the server's certificate must chain to one of these
    /// CA certificates, or to Mozilla's roots when there are none.
    ExplicitTls { ca: Vec<CertificateDer<'static>> },
}

/// Everything the FTP source is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpSettings {
    /// `host:port` of the server.
    pub address: String,
    /// The server's host name, which its TLS certificate must name.
    pub host: String,
    /// Plain or TLS.
    pub security: Security,
    /// User name.
    pub user: String,
    /// Password (empty for anonymous servers that take none).
    pub password: Secret,
    /// Folder scanned, absolute on the server, without a trailing slash.
    pub folder: String,
    /// Connections at most.
    pub pool: usize,
    /// Retries of downloads and moves.
    pub backoff: Backoff,
    /// How long connecting, or waiting for a free connection, may take.
    pub timeout: Duration,
    /// The URL without its password, for messages.
    pub redacted: String,
}

impl FtpSettings {
    /// Parses an `ftp://` URL; the message names the offending part.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let parsed = Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        let security = match parsed.scheme() {
            "ftp" => Security::Plain,
            "ftps" => Security::ExplicitTls { ca: Vec::new() },
            other => return Err(format!("expected ftp:// or ftps://, got {other}://")),
        };
        let host = parsed.host_str().ok_or("the URL names no host")?;
        let decode = |text: &str| {
            percent_decode_str(text)
                .decode_utf8()
                .map(|decoded| decoded.into_owned())
                .map_err(|_| format!("{text:?} is not valid percent-encoded UTF-8"))
        };
        let folder = decode(parsed.path())?;
        let mut settings = Self {
            address: format!("{host}:{}", parsed.port().unwrap_or(21)),
            host: host.to_string(),
            security,
            user: match parsed.username() {
                "" => "anonymous".to_string(),
                user => decode(user)?,
            },
            password: Secret::new(match parsed.password() {
                Some(password) => decode(password)?,
                None => std::env::var(PASSWORD_ENV).unwrap_or_default(),
            }),
            folder: match folder.trim_end_matches('/') {
                "" => "/".to_string(),
                folder => folder.to_string(),
            },
            pool: 4,
            backoff: Backoff::default(),
            timeout: Duration::from_secs(30),
            redacted: String::new(),
        };
        for (key, value) in parsed.query_pairs() {
            if settings.backoff.set_parameter(&key, &value)? {
                continue;
            }
            match key.as_ref() {
                "pool" => settings.pool = whole_number(&key, &value)?.max(1) as usize,
                "timeout_ms" => {
                    settings.timeout = Duration::from_millis(whole_number(&key, &value)?.max(1))
                }
                "ca" => match &mut settings.security {
                    Security::ExplicitTls { ca } => *ca = read_ca(&value)?,
                    Security::Plain => return Err("ca= needs an ftps:// URL".into()),
                },
                _ => return Err(format!("unknown parameter {key}")),
            }
        }
        let mut redacted = parsed.clone();
        if redacted.password().is_some() {
            let _ = redacted.set_password(Some("***"));
        }
        redacted.set_query(None);
        settings.redacted = redacted.to_string();
        Ok(settings)
    }
}

/// The CA certificates of a PEM file; the message says what is wrong with it.
fn read_ca(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("ca={path}: {e}"))?;
    if certificates.is_empty() {
        return Err(format!("ca={path}: no PEM certificate in the file"));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_defaults_and_redaction() {
        let s = FtpSettings::from_url("ftp://pm:p%40ss@ftp.example:2121/pm/5ga/?pool=8").unwrap();
        assert_eq!(
            (s.address.as_str(), s.user.as_str(), s.password.expose()),
            ("ftp.example:2121", "pm", "p@ss")
        );
        assert!(!format!("{s:?}").contains("p@ss"));
        assert_eq!((s.folder.as_str(), s.pool), ("/pm/5ga", 8));
        assert_eq!(s.redacted, "ftp://pm:***@ftp.example:2121/pm/5ga/");
        let s = FtpSettings::from_url("ftp://host").unwrap();
        assert_eq!(
            (s.address.as_str(), s.user.as_str(), s.folder.as_str()),
            ("host:21", "anonymous", "/")
        );
        assert!(FtpSettings::from_url("ftp://host/x?pools=1").is_err());
        assert!(FtpSettings::from_url("sftp://host/x").is_err());
        assert_eq!(s.security, Security::Plain);
    }

    #[test]
    fn ftps_urls_take_a_ca_file() {
        let s = FtpSettings::from_url("ftps://pm@ftp.example/pm").unwrap();
        assert_eq!(s.security, Security::ExplicitTls { ca: Vec::new() });
        assert_eq!(
            (s.host.as_str(), s.address.as_str()),
            ("ftp.example", "ftp.example:21")
        );
        let err = FtpSettings::from_url("ftp://h/pm?ca=/etc/ssl/ca.pem").unwrap_err();
        assert!(err.contains("needs an ftps://"), "{err}");
        let err = FtpSettings::from_url("ftps://h/pm?ca=/nonexistent/ca.pem").unwrap_err();
        assert!(err.starts_with("ca=/nonexistent/ca.pem:"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err =
            FtpSettings::from_url(&format!("ftps://h/pm?ca={}", empty.display())).unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
    }
}
