//! An HTTPS server (tokio + rustls) whose private key lives only in siegel's
//! protected memory, shared by the example (`tls_server.rs`) and its test
//! (`tests/handshakes.rs`).
//!
//! The key is a [`ProtectedSigningKey`] (crate `siegel-rustls`): every TLS
//! handshake's signature — and the self-signed certificate's — is made in a
//! read scope on its region. Nothing else in the process holds the key.

#![forbid(unsafe_code)]

use std::{
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
};

use rcgen::{CertificateParams, PublicKeyData, SanType, SerialNumber, SignatureAlgorithm};
use rustls::{
    client::Resumption,
    pki_types::{CertificateDer, ServerName},
    server::ResolvesServerCert,
    sign::{CertifiedKey, SingleCertAndKey},
    ClientConfig, RootCertStore, ServerConfig,
};
pub use siegel_rustls::{Algorithm, ProtectedSigningKey};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The body every request gets.
pub const BODY: &str = "hello from a key no overread can reach\n";

/// What can go wrong setting the server up.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Loading or using the protected key.
    Key(siegel_rustls::Error),
    /// Building the certificate.
    Certificate(rcgen::Error),
    /// rustls refused the configuration (for example: the certificate's
    /// public key is not the signing key's).
    Tls(rustls::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(e) => write!(f, "key: {e}"),
            Self::Certificate(e) => write!(f, "certificate: {e}"),
            Self::Tls(e) => write!(f, "rustls: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Key(e) => Some(e),
            Self::Certificate(e) => Some(e),
            Self::Tls(e) => Some(e),
        }
    }
}

impl From<siegel_rustls::Error> for Error {
    fn from(e: siegel_rustls::Error) -> Self {
        Self::Key(e)
    }
}

/// A [`ProtectedSigningKey`] seen by rcgen: the certificate is signed in a
/// read scope too.
#[derive(Debug)]
pub struct CertSigner<'a> {
    key: &'a ProtectedSigningKey,
    /// Why signing failed: rcgen's error has no room for it.
    failure: Mutex<Option<siegel_rustls::Error>>,
}

impl<'a> CertSigner<'a> {
    /// A signer for rcgen that signs with `key`.
    #[must_use]
    pub fn new(key: &'a ProtectedSigningKey) -> Self {
        Self { key, failure: Mutex::new(None) }
    }

    /// The error behind an [`rcgen::Error::RemoteKeyError`], if signing failed.
    pub fn take_failure(&self) -> Option<siegel_rustls::Error> {
        self.failure.lock().ok()?.take()
    }
}

impl PublicKeyData for CertSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.key.public_key_raw()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self.key.key_algorithm() {
            Algorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            // `Algorithm` is non-exhaustive; Ed25519 is the other one.
            _ => &rcgen::PKCS_ED25519,
        }
    }
}

impl rcgen::SigningKey for CertSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.key.sign(msg).map_err(|e| {
            if let Ok(mut failure) = self.failure.lock() {
                *failure = Some(e);
            }
            rcgen::Error::RemoteKeyError
        })
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1, signed by
/// `signer`.
///
/// # Errors
///
/// [`Error::Certificate`] if rcgen cannot build or sign it.
pub fn self_signed(
    signer: &impl rcgen::SigningKey,
) -> Result<(CertificateDer<'static>, String), Error> {
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned()]).map_err(Error::Certificate)?;
    params.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    // rcgen draws a serial only with its own crypto backend: take the public
    // key's last 16 bytes, positive (top bit clear) and non-zero.
    let public = signer.der_bytes();
    let mut serial = public.get(public.len().saturating_sub(16)..).unwrap_or_default().to_vec();
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x01;
    }
    params.serial_number = Some(SerialNumber::from(serial));
    let cert = params.self_signed(signer).map_err(Error::Certificate)?;
    Ok((cert.der().clone(), cert.pem()))
}

/// A server configuration presenting `cert` and signing with `key`: TLS 1.3
/// and 1.2, ring for the protocol, no session tickets (every connection is a
/// full handshake, with a signature).
///
/// # Errors
///
/// [`Error::Tls`] if `cert` does not belong to `key`.
pub fn server_config(
    cert: CertificateDer<'static>,
    key: Arc<dyn rustls::sign::SigningKey>,
) -> Result<Arc<ServerConfig>, Error> {
    let certified = CertifiedKey::new(vec![cert], key);
    certified.keys_match().map_err(Error::Tls)?;
    let resolver: Arc<dyn ResolvesServerCert> = Arc::new(SingleCertAndKey::from(certified));
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(Error::Tls)?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The protected key's certificate and server configuration in one call.
///
/// # Errors
///
/// As [`self_signed`] and [`server_config`].
pub fn protected_server(
    key: &ProtectedSigningKey,
) -> Result<(Arc<ServerConfig>, CertificateDer<'static>, String), Error> {
    let signer = CertSigner::new(key);
    let (cert, pem) = self_signed(&signer).map_err(|e| match signer.take_failure() {
        Some(failure) => Error::Key(failure),
        None => e,
    })?;
    Ok((server_config(cert.clone(), Arc::new(key.clone()))?, cert, pem))
}

/// Accepts connections on `listener` for ever (or until the task is
/// aborted), answering each request with [`BODY`]. Handshake and I/O errors
/// end that connection only.
///
/// # Errors
///
/// Only if `accept` itself fails.
pub async fn serve(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (stream, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(&acceptor, stream).await {
                eprintln!("tls_server: connection: {e}");
            }
        });
    }
}

/// A client that trusts only `cert` and never resumes a session, so that
/// every connection is a full handshake with a server signature; TLS 1.2 only
/// if `tls12`, else TLS 1.3 only.
///
/// # Errors
///
/// [`Error::Tls`] if rustls refuses the certificate or the versions.
pub fn client(cert: &CertificateDer<'static>, tls12: bool) -> Result<TlsConnector, Error> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).map_err(Error::Tls)?;
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()));
    let version = if tls12 { &rustls::version::TLS12 } else { &rustls::version::TLS13 };
    let mut config = builder
        .with_protocol_versions(&[version])
        .map_err(Error::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// One connection to `addr` as `localhost`, one `GET /`; the response must be
/// `200 OK` with [`BODY`].
///
/// # Errors
///
/// The I/O or TLS error, or [`io::ErrorKind::InvalidData`] for any other
/// response.
pub async fn get(connector: &TlsConnector, addr: SocketAddr) -> io::Result<()> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").await?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await?;
    check_response(&String::from_utf8_lossy(&response))
}

/// Whether `response` is our `200 OK` with [`BODY`].
///
/// # Errors
///
/// [`io::ErrorKind::InvalidData`], naming the response, if it is not.
pub fn check_response(response: &str) -> io::Result<()> {
    if response.starts_with("HTTP/1.1 200 OK\r\n") && response.ends_with(&format!("\r\n\r\n{BODY}"))
    {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidData, format!("unexpected response {response:?}")))
    }
}

/// One connection: the handshake (the signature happens here), one request
/// read up to its blank line, one response, close.
async fn answer(acceptor: &TlsAcceptor, stream: tokio::net::TcpStream) -> io::Result<()> {
    let mut tls = acceptor.accept(stream).await?;
    let mut request = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf).await?;
        if n == 0 || request.len() > 16 * 1024 {
            return Ok(());
        }
        request.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    tls.write_all(response.as_bytes()).await?;
    tls.shutdown().await
}
