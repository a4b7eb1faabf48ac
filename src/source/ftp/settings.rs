//! The FTP source's URL: `ftp://user:pass@host:21/path/to/folder?pool=4`.
//!
//! | parameter | default | meaning |
//! |---|---|---|
//! | `pool` | 4 | connections to the server at most (listing, downloads, moves) |
//! | `retries` | 5 | retries of a failed download or move |
//! | `retry_base_ms` | 200 | first retry delay, doubled each time, with jitter |
//! | `timeout_ms` | 30000 | connecting, and waiting for a free connection |
//!
//! The user defaults to `anonymous`. A URL without a password takes it from
//! `PMFLOW_FTP_PASSWORD`. Transfers are binary, in passive mode.

use std::time::Duration;

use percent_encoding::percent_decode_str;
use url::Url;

use crate::retry::{Backoff, whole_number};

/// Environment variable holding the password of an `ftp://` URL that has none.
pub const PASSWORD_ENV: &str = "PMFLOW_FTP_PASSWORD";

/// Everything the FTP source is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpSettings {
    /// `host:port` of the server.
    pub address: String,
    /// User name.
    pub user: String,
    /// Password (empty for anonymous servers that take none).
    pub password: String,
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
        if parsed.scheme() != "ftp" {
            return Err(format!("expected ftp://, got {}://", parsed.scheme()));
        }
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
            user: match parsed.username() {
                "" => "anonymous".to_string(),
                user => decode(user)?,
            },
            password: match parsed.password() {
                Some(password) => decode(password)?,
                None => std::env::var(PASSWORD_ENV).unwrap_or_default(),
            },
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

    /// The server path of `name` in the scanned folder, or in its sub-folder `sub`.
    pub fn path(&self, sub: Option<&str>, name: &str) -> String {
        let folder = self.folder.trim_end_matches('/');
        match sub {
            Some(sub) => format!("{folder}/{sub}/{name}"),
            None => format!("{folder}/{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_defaults_and_redaction() {
        let s = FtpSettings::from_url("ftp://pm:p%40ss@ftp.example:2121/pm/5ga/?pool=8").unwrap();
        assert_eq!(
            (s.address.as_str(), s.user.as_str(), s.password.as_str()),
            ("ftp.example:2121", "pm", "p@ss")
        );
        assert_eq!((s.folder.as_str(), s.pool), ("/pm/5ga", 8));
        assert_eq!(s.redacted, "ftp://pm:***@ftp.example:2121/pm/5ga/");
        assert_eq!(s.path(None, "a.xml"), "/pm/5ga/a.xml");
        assert_eq!(s.path(Some("Done"), "a.xml"), "/pm/5ga/Done/a.xml");
        let s = FtpSettings::from_url("ftp://host").unwrap();
        assert_eq!(
            (s.address.as_str(), s.user.as_str(), s.folder.as_str()),
            ("host:21", "anonymous", "/")
        );
        assert_eq!(s.path(None, "a"), "/a");
        assert!(FtpSettings::from_url("ftp://host/x?pools=1").is_err());
        assert!(FtpSettings::from_url("sftp://host/x").is_err());
    }
}
