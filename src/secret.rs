//! Passwords and other secrets from URLs and the environment, wrapped so that no
//! `Debug`, `Display` or log line can print them: the value is reached only through
//! [`Secret::expose`], at the one place that hands it to a client library.

use secrecy::{ExposeSecret, SecretString};

/// A secret value: prints as `[REDACTED]`, is wiped from memory when dropped, and
/// compares by value (so settings holding one can still be compared in tests).
#[derive(Clone, Debug)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The value, for the client library that needs it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let secret = Secret::new("s3cret");
        assert!(!format!("{secret:?}").contains("s3cret"));
        assert_eq!(secret.expose(), "s3cret");
        assert_eq!(secret, Secret::new("s3cret"));
    }
}
