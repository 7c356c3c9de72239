//! Wipe on crash: with one call, a fatal signal wipes every protected region
//! before the process dies — and the crash still happens, with its usual exit.
//!
//! The demo runs itself twice: the parent spawns a child that arms the handler,
//! holds a secret (with a read scope open, the worst moment), and then crashes on
//! a wild pointer. The child's handler wipes the secret and writes one byte to a
//! notification descriptor (here its stdout); the parent reports what it saw.
//!
//! `cargo run --example wipe_on_crash`

#[cfg(unix)]
use std::{os::unix::process::ExitStatusExt, process::Command};

#[cfg(unix)]
use siegel::{Dedicated, Protected};

#[cfg(unix)]
const CHILD: &str = "--crash-child";

/// This demo speaks POSIX signals; Windows' crash wipe runs from the
/// unhandled-exception filter instead (`tests/windows.rs` crashes a child
/// under Wine and checks it).
#[cfg(not(unix))]
fn main() {
    println!("wipe_on_crash: a POSIX demo (fatal signals); see tests/windows.rs for Windows");
}

#[cfg(unix)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == CHILD) {
        crash_holding_a_secret()?;
        return Ok(());
    }
    let out = Command::new(std::env::current_exe()?).arg(CHILD).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("child said:\n{stdout}");
    println!("child ended with: {}", out.status);
    if out.status.signal() == Some(libc::SIGSEGV) && stdout.ends_with('W') {
        println!("the child crashed as it should, and wiped its secrets first (the 'W' byte)");
        Ok(())
    } else {
        Err("the child did not crash after a wipe".into())
    }
}

#[cfg(unix)]
fn crash_holding_a_secret() -> Result<(), siegel::Error> {
    // No core files from the demo.
    let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    #[allow(unsafe_code, reason = "setrlimit has no safe wrapper in std")]
    // SAFETY: `no_core` is a valid rlimit; lowering a limit is always allowed.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &raw const no_core)
    };

    siegel::crash::wipe_on_fatal_signal(siegel::crash::Order::WipeFirst)?;
    siegel::crash::notify_fd(Some(1)); // one 'W' on stdout after the wipe
    let key = Protected::<[u8; 32]>::init_with_in(Dedicated, |k| {
        k.copy_from_slice(b"a signing key worth protecting!!");
    })?;
    let scope = key.read()?;
    println!("holding a read scope on {} bytes; now a bug strikes", scope.len());
    let wild = key.info().mapping.start; // the guard page below the secret
    #[allow(unsafe_code, reason = "deliberately simulates a memory-safety bug")]
    // SAFETY: none — this write is the bug being demonstrated; it faults.
    unsafe {
        std::ptr::with_exposed_provenance_mut::<u8>(wild).write_volatile(0);
    }
    drop(scope);
    Ok(())
}
