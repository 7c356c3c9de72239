//! siegel in one minute: protect a secret, use it in read and write scopes, see
//! which mechanism guards it, and watch a stray read of the sealed secret kill a
//! child process.
//!
//! Run with `cargo run --release --example quickstart`.

use std::process::{Command, ExitStatus};

use siegel::{pku_support, Dedicated, Protected};

/// The argument that makes this program play the buggy child.
const STRAY_READ: &str = "--stray-read";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The secret is initialised in place, inside its guarded region.
    let mut api_key = Protected::<[u8; 32]>::init_with_in(Dedicated, |key| {
        key.copy_from_slice(b"sk_live_0123456789abcdef01234567");
    })?;

    if std::env::args().any(|arg| arg == STRAY_READ) {
        stray_read(&api_key);
    }

    println!("PKU on this machine: {}", pku_support());
    println!("the key is protected by {}", api_key.info().mechanism);
    println!("Debug output never shows it: {api_key:?}");

    // A read scope: readable until the guard drops, sealed again afterwards.
    {
        let key = api_key.read()?;
        println!("read scope: the key starts with {:?}", std::str::from_utf8(&key[..8])?);
    }

    // A write scope (needs `&mut`): rotate the last bytes in place.
    api_key.write()?[24..].copy_from_slice(b"rotated!");
    let tail = api_key.read()?[24..].to_vec();
    println!("write scope: the key now ends with {:?}", String::from_utf8(tail)?);

    // Outside a scope the pages are sealed. A bug that reads them anyway dies:
    // shown in a child process, which re-runs this program with --stray-read.
    let status = Command::new(std::env::current_exe()?).arg(STRAY_READ).status()?;
    let Some(fault) = access_fault(status) else {
        eprintln!("the stray read did NOT fault: {status}");
        std::process::exit(1);
    };
    println!("a stray read of the sealed key died with {fault}, as it should");
    Ok(())
}

/// The access fault `status` reports a death by, if it does.
#[cfg(unix)]
fn access_fault(status: ExitStatus) -> Option<&'static str> {
    use std::os::unix::process::ExitStatusExt;
    match status.signal()? {
        libc::SIGSEGV => Some("SIGSEGV"),
        // macOS and the BSDs may report a protection fault as SIGBUS.
        libc::SIGBUS if cfg!(not(target_os = "linux")) => Some("SIGBUS"),
        _ => None,
    }
}

/// The access fault `status` reports a death by, if it does.
#[cfg(windows)]
fn access_fault(status: ExitStatus) -> Option<&'static str> {
    // STATUS_ACCESS_VIOLATION, as the exit code of a process it killed.
    const ACCESS_VIOLATION: u32 = 0xC000_0005;
    (status.code()?.cast_unsigned() == ACCESS_VIOLATION).then_some("an access violation")
}

/// What a memory-safety bug elsewhere in a program might do: read the secret's
/// address directly, outside any scope.
fn stray_read(api_key: &Protected<[u8; 32]>) -> ! {
    let address = api_key.info().secret.start;
    #[allow(unsafe_code, reason = "deliberately simulates a memory-safety bug")]
    // SAFETY: none — this read is the bug being demonstrated; it faults.
    let byte = unsafe { std::ptr::with_exposed_provenance::<u8>(address).read_volatile() };
    println!("the child read {byte:#x}: the secret leaked");
    std::process::exit(0);
}
