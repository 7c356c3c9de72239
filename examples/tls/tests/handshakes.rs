//! The HTTPS server of `tls_server.rs`, driven for real: full handshakes from
//! our own rustls client (always), `curl` and `openssl s_client` (when
//! installed), every response checked; throughput with the key in siegel
//! against a plain in-memory key, measured in the same run (printed, not
//! asserted); then a scan of this process's whole memory for the key.
//!
//! `SIEGEL_TLS_HANDSHAKES=N` sets the rustls client's handshakes per key
//! (default 200); `cargo test -p siegel-examples-tls -- --nocapture` shows the
//! figures.

use std::{
    fs::File,
    io::{Read as _, Write as _},
    net::SocketAddr,
    ops::Range,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use ed25519_dalek::Signer as _;
use rustls::{
    pki_types::{CertificateDer, SubjectPublicKeyInfoDer},
    sign::{Signer, SigningKey},
    SignatureAlgorithm, SignatureScheme,
};
use sha2::{digest::array::Array, Digest, Sha512};
use siegel::Dedicated;
use siegel::Protected;
use siegel_examples_tls::{
    check_response, client, get, protected_server, self_signed, serve, server_config, Algorithm,
    ProtectedSigningKey, BODY,
};
use tokio::{net::TcpListener, runtime::Runtime};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Concurrent client connections.
const CLIENTS: usize = 4;

fn handshakes() -> usize {
    std::env::var("SIEGEL_TLS_HANDSHAKES").ok().and_then(|n| n.parse().ok()).unwrap_or(200)
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A server on 127.0.0.1, port 0, running on `rt` until `rt` drops.
fn start(rt: &Runtime, config: Arc<rustls::ServerConfig>) -> TestResult<SocketAddr> {
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    rt.spawn(async move {
        if let Err(e) = serve(listener, config).await {
            eprintln!("serve: {e}");
        }
    });
    Ok(addr)
}

#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    failed: usize,
    elapsed: Duration,
}

impl Tally {
    fn per_second(&self) -> f64 {
        f64::from(u32::try_from(self.ok).unwrap_or(u32::MAX)) / self.elapsed.as_secs_f64()
    }
}

/// `n` full handshakes with our rustls client, [`CLIENTS`] at a time; every
/// fourth connection of each client uses TLS 1.2 when `mixed`.
fn rustls_handshakes(
    rt: &Runtime,
    addr: SocketAddr,
    cert: &CertificateDer<'static>,
    n: usize,
    mixed: bool,
) -> TestResult<Tally> {
    let tls13 = client(cert, false)?;
    let tls12 = client(cert, true)?;
    let start = Instant::now();
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (tls13, tls12) = (tls13.clone(), tls12.clone());
            let count = n / CLIENTS + usize::from(c < n % CLIENTS);
            tasks.push(tokio::spawn(async move {
                let mut tally = (0, 0);
                for i in 0..count {
                    let connector = if mixed && i % 4 == 3 { &tls12 } else { &tls13 };
                    match get(connector, addr).await {
                        Ok(()) => tally.0 += 1,
                        Err(e) => {
                            eprintln!("rustls client: {e}");
                            tally.1 += 1;
                        }
                    }
                }
                tally
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.push(task.await);
        }
        all
    });
    let mut tally = Tally { elapsed: start.elapsed(), ..Tally::default() };
    for result in results {
        let (ok, failed) = result?;
        tally.ok += ok;
        tally.failed += failed;
    }
    Ok(tally)
}

fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg(if tool == "openssl" { "version" } else { "--version" })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `n` handshakes with `curl` (TLS 1.3 and, every fourth, TLS 1.2), or `None`
/// with a printed reason when curl is not installed.
fn curl_handshakes(addr: SocketAddr, ca: &Path, n: usize) -> Option<Tally> {
    if !installed("curl") {
        println!("skipped curl: not installed (Debian package `curl`)");
        return None;
    }
    let url = format!("https://localhost:{}/", addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    let start = Instant::now();
    let mut tally = Tally::default();
    for i in 0..n {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "20", "--cacert"]).arg(ca).args(["--resolve", &resolve]);
        if i % 4 == 3 {
            cmd.args(["--tlsv1.2", "--tls-max", "1.2"]);
        }
        let result = cmd.arg(&url).output();
        match result {
            Ok(out) if out.status.success() && String::from_utf8_lossy(&out.stdout) == BODY => {
                tally.ok += 1;
            }
            other => {
                eprintln!("curl: {other:?}");
                tally.failed += 1;
            }
        }
    }
    tally.elapsed = start.elapsed();
    Some(tally)
}

/// `n` handshakes with `openssl s_client` (verifying the certificate), or
/// `None` with a printed reason when openssl is not installed.
fn openssl_handshakes(addr: SocketAddr, ca: &Path, n: usize) -> TestResult<Option<Tally>> {
    if !installed("openssl") {
        println!("skipped openssl s_client: not installed (Debian package `openssl`)");
        return Ok(None);
    }
    let connect = format!("127.0.0.1:{}", addr.port());
    let start = Instant::now();
    let mut tally = Tally::default();
    for _ in 0..n {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-verify_return_error", "-servername", "localhost"])
            .args(["-connect", &connect, "-CAfile"])
            .arg(ca)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")?;
        }
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            stdout.read_to_string(&mut out)?;
        }
        let status = child.wait()?;
        if status.success() && check_response(&out).is_ok() {
            tally.ok += 1;
        } else {
            eprintln!("openssl s_client: {status}, {out:?}");
            tally.failed += 1;
        }
    }
    tally.elapsed = start.elapsed();
    Ok(Some(tally))
}

// ---------------------------------------------------------------------------
// The memory scan.

/// Where the needles were found outside the skipped ranges.
#[derive(Debug, Default)]
struct Scan {
    regions: usize,
    bytes: usize,
    unreadable: usize,
    hits: Vec<(&'static str, usize, String)>,
}

/// Reads every readable mapping of this process (`/proc/self/maps`, then
/// `/proc/self/mem`), except `skip`, and records where each needle occurs.
fn scan_memory(needles: &[(&'static str, &[u8])], skip: &[Range<usize>]) -> TestResult<Scan> {
    const CHUNK: usize = 1 << 20;
    let overlap = needles.iter().map(|(_, n)| n.len()).max().unwrap_or(1) - 1;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mem = File::open("/proc/self/mem")?;
    let mut scan = Scan::default();
    let mut buf = vec![0u8; CHUNK + overlap];
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else { continue };
        let name = fields.nth(3).unwrap_or("").to_owned();
        let Some((start, end)) = range.split_once('-') else { continue };
        let (start, end) = (usize::from_str_radix(start, 16)?, usize::from_str_radix(end, 16)?);
        if !perms.starts_with('r')
            || name.starts_with("[vvar")
            || name == "[vsyscall]"
            || skip.iter().any(|s| s.start < end && start < s.end)
        {
            continue;
        }
        scan.regions += 1;
        let mut at = start;
        while at < end {
            let len = (end - at).min(CHUNK + overlap);
            let chunk = &mut buf[..len];
            if mem.read_exact_at(chunk, u64::try_from(at)?).is_err() {
                scan.unreadable += 1;
                at += CHUNK;
                continue;
            }
            for (what, needle) in needles {
                let first = needle[0];
                for (i, window) in chunk.windows(needle.len()).enumerate() {
                    // Only matches that start in this chunk's own part (the
                    // overlap is the next chunk's start).
                    if i < CHUNK && window[0] == first && window == *needle {
                        scan.hits.push((what, at + i, name.clone()));
                    }
                }
            }
            scan.bytes += len.min(CHUNK);
            at += CHUNK;
        }
    }
    Ok(scan)
}

/// The control: random bytes left in ordinary heap memory, which the scan
/// must find (else finding nothing would prove nothing).
const CONTROL: &str = "control (a plain heap copy, must be found)";

fn control() -> TestResult<Box<[u8; 32]>> {
    let mut control = Box::new([0u8; 32]);
    siegel::fill_random(&mut *control)?;
    Ok(control)
}

/// Prints the scan and checks it: the control found, nothing else.
fn check_scan(label: &str, scan: &Scan) {
    report_scan(label, scan);
    let (control, key): (Vec<_>, Vec<_>) =
        scan.hits.iter().partition(|(what, ..)| *what == CONTROL);
    assert!(!control.is_empty(), "{label}: the scan did not find its control: it reads nothing");
    assert!(key.is_empty(), "{label}: key material outside siegel: {key:?}");
}

fn report_scan(label: &str, scan: &Scan) {
    println!(
        "{label} memory scan: {} readable regions, {} MiB, {} chunks unreadable; key material: {} hits outside siegel's regions (control: {} hits)",
        scan.regions,
        scan.bytes >> 20,
        scan.unreadable,
        scan.hits.iter().filter(|(what, ..)| *what != CONTROL).count(),
        scan.hits.iter().filter(|(what, ..)| *what == CONTROL).count(),
    );
    for (what, addr, name) in &scan.hits {
        println!("  hit: {what} at {addr:#x} in {name:?}");
    }
}

// ---------------------------------------------------------------------------
// The plain in-memory key the throughput is compared with: the usual way, an
// `ed25519_dalek::SigningKey` held in an ordinary (heap) value.

#[derive(Debug)]
struct PlainKey {
    key: ed25519_dalek::SigningKey,
    public: [u8; 32],
    spki: Vec<u8>,
}

impl PlainKey {
    fn new(seed: &[u8; 32]) -> Arc<Self> {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let public = key.verifying_key().to_bytes();
        let prefix = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
        Arc::new(Self { key, public, spki: [&prefix[..], &public[..]].concat() })
    }
}

impl SigningKey for PlainKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        if !offered.contains(&SignatureScheme::ED25519) {
            return None;
        }
        let signer: Box<dyn Signer> = Box::new(PlainSigner(self.key.clone()));
        Some(signer)
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(&self.spki[..]))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ED25519
    }
}

#[derive(Debug)]
struct PlainSigner(ed25519_dalek::SigningKey);

impl Signer for PlainSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        Ok(self.0.sign(message).to_bytes().to_vec())
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

impl rcgen::PublicKeyData for PlainKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for PlainKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

// ---------------------------------------------------------------------------

/// Makes sure 127.0.0.1 answers. The PKU VM (`.ci/pku-vm`) boots with its
/// loopback interface down; there, and only where a connection to ourselves
/// fails with `ENETUNREACH`, bring it up with busybox's `ip` (we are root in
/// the VM).
fn ensure_loopback() -> TestResult {
    let reachable = || -> std::io::Result<()> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std::net::TcpStream::connect(listener.local_addr()?).map(drop)
    };
    match reachable() {
        Err(e) if e.kind() == std::io::ErrorKind::NetworkUnreachable => {
            println!("loopback is down (as in the PKU VM): running `ip link set lo up`");
            let status = Command::new("ip").args(["link", "set", "lo", "up"]).status()?;
            if !status.success() {
                return Err(format!("`ip link set lo up`: {status}").into());
            }
            Ok(reachable()?)
        }
        other => Ok(other?),
    }
}

/// A scratch directory of this test run.
fn scratch() -> TestResult<PathBuf> {
    let dir = std::env::temp_dir().join(format!("siegel-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// RFC 8410 PKCS#8 v1 for Ed25519, up to the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Ed25519: the key written as a PKCS#8 file from protected memory and
/// loaded back by the server; rustls, curl and openssl handshakes; the plain
/// key's throughput; the scan for the seed and both halves of SHA-512(seed).
fn ed25519(rt: &Runtime, dir: &Path) -> TestResult<usize> {
    // The needles: seed || SHA-512(seed), made and kept in siegel only.
    let needles = Protected::<[u8; 96]>::init_with_in(Dedicated, |n| {
        let (seed, expansion) = n.split_at_mut(32);
        siegel::fill_random(seed).expect("random seed");
        let expansion: &mut [u8; 64] = expansion.try_into().expect("64 bytes");
        Sha512::new().chain_update(&*seed).finalize_into(Array::cast_from_core_mut(expansion));
    })?;
    let key_file = dir.join("ed25519.der");
    {
        let n = needles.read()?;
        let mut file = File::create(&key_file)?;
        file.write_all(&ED25519_PKCS8_PREFIX)?;
        file.write_all(&n[..32])?; // from the open region, no buffer in between
    }
    let key = ProtectedSigningKey::from_pkcs8_file(&key_file)?;
    std::fs::remove_file(&key_file)?;
    assert_eq!(key.key_algorithm(), Algorithm::Ed25519);
    println!("Ed25519 key {key:?}, protected by {}", key.region().mechanism);

    let (config, cert, pem) = protected_server(&key)?;
    let ca = dir.join("ed25519.pem");
    std::fs::write(&ca, pem)?;
    let addr = start(rt, config)?;

    // The baseline: the same server with a plain in-memory key (another one).
    let mut plain_seed = [0u8; 32];
    siegel::fill_random(&mut plain_seed)?;
    let plain = PlainKey::new(&plain_seed);
    let (plain_cert, _) = self_signed(&*plain)?;
    let plain_addr = start(rt, server_config(plain_cert.clone(), plain.clone())?)?;

    let n = handshakes();
    // Warm both up, then measure each in turn, twice, alternating.
    rustls_handshakes(rt, addr, &cert, CLIENTS * 2, false)?;
    rustls_handshakes(rt, plain_addr, &plain_cert, CLIENTS * 2, false)?;
    let mut siegel_total = Tally::default();
    let mut plain_total = Tally::default();
    for _ in 0..2 {
        for (total, addr, cert) in
            [(&mut siegel_total, addr, &cert), (&mut plain_total, plain_addr, &plain_cert)]
        {
            let t = rustls_handshakes(rt, addr, cert, n / 2, true)?;
            total.ok += t.ok;
            total.failed += t.failed;
            total.elapsed += t.elapsed;
        }
    }
    println!(
        "Ed25519 rustls client: siegel key {} ok / {} failed ({:.0}/s); plain key {} ok / {} failed ({:.0}/s); siegel/plain throughput ratio {:.2}",
        siegel_total.ok,
        siegel_total.failed,
        siegel_total.per_second(),
        plain_total.ok,
        plain_total.failed,
        plain_total.per_second(),
        siegel_total.per_second() / plain_total.per_second()
    );
    let mut failed = siegel_total.failed + plain_total.failed;

    if let Some(t) = curl_handshakes(addr, &ca, n / 4) {
        println!("Ed25519 curl: {} ok / {} failed ({:.0}/s)", t.ok, t.failed, t.per_second());
        failed += t.failed;
    }
    if let Some(t) = openssl_handshakes(addr, &ca, n / 10)? {
        println!("Ed25519 openssl s_client: {} ok / {} failed", t.ok, t.failed);
        failed += t.failed;
    }

    let skip = [key.region().mapping, needles.info().mapping];
    let control = control()?;
    let scan = {
        let n = needles.read()?;
        scan_memory(
            &[
                (CONTROL, &control[..]),
                ("the seed", &n[..32]),
                ("SHA-512(seed) scalar half (bytes 1..31, clamping aside)", &n[33..63]),
                ("SHA-512(seed) nonce-prefix half", &n[64..96]),
            ],
            &skip,
        )?
    };
    check_scan("Ed25519", &scan);
    Ok(failed)
}

/// ECDSA P-256: a scalar generated in siegel, handed over region to region;
/// rustls (TLS 1.3 and 1.2) and curl handshakes; the scan for the scalar.
fn p256(rt: &Runtime, dir: &Path) -> TestResult<usize> {
    let (scalar, key) = loop {
        let scalar = Protected::<[u8; 32]>::init_with_in(Dedicated, siegel::fill_random)?;
        match ProtectedSigningKey::from_raw(&scalar, Algorithm::EcdsaP256) {
            Ok(key) => break (scalar, key),
            Err(siegel_rustls::Error::InvalidKey(_)) => {}
            Err(e) => return Err(e.into()),
        }
    };
    println!("P-256 key {key:?}, protected by {}", key.region().mechanism);
    let (config, cert, pem) = protected_server(&key)?;
    let ca = dir.join("p256.pem");
    std::fs::write(&ca, pem)?;
    let addr = start(rt, config)?;

    let n = handshakes() / 2;
    let t = rustls_handshakes(rt, addr, &cert, n, true)?;
    println!("P-256 rustls client: {} ok / {} failed ({:.0}/s)", t.ok, t.failed, t.per_second());
    let mut failed = t.failed;
    if let Some(t) = curl_handshakes(addr, &ca, n / 4) {
        println!("P-256 curl: {} ok / {} failed", t.ok, t.failed);
        failed += t.failed;
    }

    let skip = [key.region().mapping, scalar.info().mapping];
    let control = control()?;
    let scan = {
        let d = scalar.read()?;
        scan_memory(&[(CONTROL, &control[..]), ("the P-256 scalar", &d[..])], &skip)?
    };
    check_scan("P-256", &scan);
    Ok(failed)
}

/// One test, so that the throughput figures and the scans are not disturbed
/// by another test running at the same time.
#[test]
fn handshakes_throughput_and_memory_scan() -> TestResult {
    ensure_loopback()?;
    let dir = scratch()?;
    let rt = runtime();
    let failed = ed25519(&rt, &dir)? + p256(&rt, &dir)?;
    drop(rt);
    std::fs::remove_dir_all(&dir)?;
    assert_eq!(failed, 0, "failed handshakes or responses");
    Ok(())
}
