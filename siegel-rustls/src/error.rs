//! The one error type of this crate.

use std::{fmt, io, path::PathBuf};

/// What went wrong loading a key or signing with it.
///
/// No variant carries key material: parse errors say where and what, never
/// which bytes.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// siegel could not make, open or seal a region.
    Siegel(siegel::Error),
    /// The key file could not be opened.
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A raw key file (or a key inside a PKCS#8 / SEC1 structure) does not have
    /// the exact length the algorithm needs: trailing bytes are an error, not
    /// silently ignored.
    Length {
        /// What was being read.
        what: &'static str,
        /// The length the algorithm needs.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// The PEM armour is malformed, or its label is not `PRIVATE KEY`
    /// (PKCS#8) or `EC PRIVATE KEY` (SEC1).
    Pem(String),
    /// The DER structure is malformed, or is followed by trailing bytes.
    Der {
        /// Which structure.
        what: &'static str,
        /// What the parser said (positions and kinds only, never bytes).
        detail: String,
    },
    /// The key is for an algorithm this crate does not sign with.
    UnsupportedAlgorithm(String),
    /// The bytes do not form a valid key: a P-256 scalar that is zero or not
    /// below the group order, or a public key in the file that does not match
    /// the private key.
    InvalidKey(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Siegel(e) => write!(f, "siegel: {e}"),
            Self::Open { path, source } => {
                write!(f, "cannot open key file {}: {source}", path.display())
            }
            Self::Length { what, expected, found } => write!(
                f,
                "{what} is {found} bytes, expected exactly {expected} (trailing or missing bytes)"
            ),
            Self::Pem(detail) => write!(f, "malformed PEM key file: {detail}"),
            Self::Der { what, detail } => write!(f, "malformed {what}: {detail}"),
            Self::UnsupportedAlgorithm(what) => {
                write!(f, "unsupported key algorithm {what} (Ed25519 and ECDSA P-256 only)")
            }
            Self::InvalidKey(why) => write!(f, "invalid key: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Siegel(e) => Some(e),
            Self::Open { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<siegel::Error> for Error {
    fn from(e: siegel::Error) -> Self {
        Self::Siegel(e)
    }
}

impl From<Error> for rustls::Error {
    fn from(e: Error) -> Self {
        rustls::Error::General(format!("siegel-rustls: {e}"))
    }
}
