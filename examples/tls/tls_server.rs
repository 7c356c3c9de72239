//! An HTTPS server whose private key lives only in siegel's protected memory.
//!
//! ```text
//! cargo run --release -p siegel-examples-tls --example tls_server
//! cargo run --release -p siegel-examples-tls --example tls_server -- --ecdsa
//! cargo run --release -p siegel-examples-tls --example tls_server -- --key server.key --port 8443
//! curl --cacert target/tls_server.pem https://localhost:8443/
//! ```
//!
//! Without `--key` a key is generated in place (the kernel's RNG writes it into
//! its region); `--key FILE` loads PKCS#8 (PEM or DER) or SEC1 PEM straight
//! into protected memory (`openssl genpkey -algorithm ed25519 -out server.key`).
//! The self-signed certificate for `localhost`/127.0.0.1 is signed by the same
//! protected key and written to `target/tls_server.pem` for clients to trust.
//! Four tokio workers; every handshake signs inside a siegel read scope
//! (`siegel-rustls`).
//!
//! It first checks itself: a few full handshakes from its own rustls client
//! (TLS 1.3 and 1.2), each response checked. Then it serves until Ctrl-C —
//! when its standard input is a terminal, or with `--serve`; otherwise (CI,
//! scripts: `.ci/run` runs every example) it exits after the check.

use std::{
    error::Error as StdError, io::IsTerminal as _, net::SocketAddr, path::PathBuf,
    process::ExitCode,
};

use siegel_examples_tls::{client, get, protected_server, serve, Algorithm, ProtectedSigningKey};
use tokio::net::TcpListener;

/// Handshakes of the self-check.
const SELF_CHECK: usize = 8;

struct Args {
    key: Option<PathBuf>,
    algorithm: Algorithm,
    /// `None`: 8443 when serving, any free port for the self-check alone.
    port: Option<u16>,
    cert_out: PathBuf,
    serve: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        key: None,
        algorithm: Algorithm::Ed25519,
        port: None,
        cert_out: PathBuf::from("target/tls_server.pem"),
        serve: std::io::stdin().is_terminal(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--key" => args.key = Some(it.next().ok_or("--key needs a file")?.into()),
            "--ecdsa" => args.algorithm = Algorithm::EcdsaP256,
            "--port" => {
                args.port = it
                    .next()
                    .and_then(|p| p.parse().ok().map(Some))
                    .ok_or("--port needs a number (0: any free port)")?;
            }
            "--cert-out" => args.cert_out = it.next().ok_or("--cert-out needs a file")?.into(),
            "--serve" => args.serve = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: tls_server [--key FILE | --ecdsa] [--port N] [--cert-out FILE] [--serve]"
                ))
            }
        }
    }
    Ok(args)
}

async fn run(args: Args) -> Result<(), Box<dyn StdError>> {
    let key = match &args.key {
        Some(path) => ProtectedSigningKey::from_pkcs8_file(path)?,
        None => ProtectedSigningKey::generate(args.algorithm)?,
    };
    println!("key {key:?}, protected by {}", key.region().mechanism);
    let (config, cert, pem) = protected_server(&key)?;
    if let Some(dir) = args.cert_out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.cert_out, pem)?;

    let port = args.port.unwrap_or(if args.serve { 8443 } else { 0 });
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener, config));

    self_check(addr, &cert).await?;
    if !args.serve {
        println!("standard input is not a terminal: stopping after the self-check (--serve keeps serving)");
        server.abort();
        return Ok(());
    }
    let port = addr.port();
    println!("listening on https://localhost:{port}/ (certificate: {})", args.cert_out.display());
    println!("try: curl --cacert {} https://localhost:{port}/", args.cert_out.display());
    // Ctrl-C ends the server task; its join then reports the cancellation.
    // (By hand rather than `tokio::select!`, whose feature builds a proc-macro
    // crate and a second syn into every build of this package.)
    let stop = server.abort_handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            println!("stopping");
            stop.abort();
        }
    });
    match server.await {
        Ok(result) => Ok(result?),
        Err(join) if join.is_cancelled() => Ok(()),
        Err(join) => Err(join.into()),
    }
}

/// [`SELF_CHECK`] full handshakes from our own client, every fourth TLS 1.2.
async fn self_check(
    addr: SocketAddr,
    cert: &rustls::pki_types::CertificateDer<'static>,
) -> Result<(), Box<dyn StdError>> {
    let (tls13, tls12) = (client(cert, false)?, client(cert, true)?);
    for i in 0..SELF_CHECK {
        get(if i % 4 == 3 { &tls12 } else { &tls13 }, addr).await?;
    }
    println!("self-check: {SELF_CHECK} full handshakes (TLS 1.3 and 1.2), each signed in a siegel scope: ok");
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("tls_server: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build();
    match runtime.map_err(Into::into).and_then(|rt| rt.block_on(run(args))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tls_server: {error}");
            ExitCode::FAILURE
        }
    }
}
