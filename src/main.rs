//! The `orc` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `orc run` is short-lived; see small_pages_for_this_process. Decided before
    // anything is parsed, so that even the command line lands in small pages.
    if std::env::args_os().skip(1).any(|a| a == "run") {
        orc::exec::small_pages_for_this_process();
    }
    // A closed stdout (`orc schedule next ... | head -1`) ends the command quietly, as
    // it does other command-line tools, instead of a panic. Not for the long-running
    // commands, which serve sockets and run tasks and must not die of a peer's hang-up.
    #[cfg(unix)]
    {
        const LONG_RUNNING: [&str; 5] = ["serve", "up", "daemon", "watch", "run"];
        // args_os: an argument that is not UTF-8 (a Latin-1 path) is clap's to refuse.
        if !std::env::args_os()
            .skip(1)
            .any(|a| a.to_str().is_some_and(|a| LONG_RUNNING.contains(&a)))
        {
            // SAFETY: restores the default action of one signal before any thread starts.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
        }
    }
    // An empty ORC_STATE or ORC_CONFIG means "not set", as an empty variable does for
    // other tools (clap would take it for a missing value, even beside --state).
    for name in ["ORC_STATE", "ORC_CONFIG"] {
        if std::env::var_os(name).is_some_and(|v| v.is_empty()) {
            // SAFETY: no other thread exists yet to read the environment.
            unsafe { std::env::remove_var(name) };
        }
    }
    match orc::cli::Cli::try_parse() {
        Ok(cli) => orc::cli::run(cli),
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1, not clap's 2: with `--detailed-exitcode`, 2 means
            // "changes present", and a typo must never look like that to a CI script.
            if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

/// For the commands that write a whole config into the scheduler and the state (apply,
/// destroy, import, and up and watch, which apply), commit the allocator's arenas page
/// by page as they are used, not all at once. With transparent huge pages an eagerly
/// committed arena is faulted in 2 MB at a time, and every purged page costs a fresh
/// 2 MB zeroing when it is used again: `orc apply` of 10,000 tasks spent three quarters
/// of its 3.8 s in the kernel clearing pages, 1.3 s without. Plan and validate, which
/// free little, are faster with the huge pages (0.2 s against 0.3 s): they keep them
/// (benches/README.md).
///
/// Run from the ELF constructors, before Rust's runtime makes its first allocation (the
/// main thread's handle) and with it the first arena: setting the option in `main` is
/// too late for that arena. glibc hands constructors the command line.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[unsafe(link_section = ".init_array")]
static LAZY_ARENAS: extern "C" fn(libc::c_int, *const *const libc::c_char) = lazy_arenas;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn lazy_arenas(argc: libc::c_int, argv: *const *const libc::c_char) {
    /// `mi_option_arena_eager_commit` in mimalloc.h's `mi_option_e` (libmimalloc-sys
    /// names no constant for it).
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    /// `mi_option_purge_delay` (15 in the same enum), in milliseconds.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    const APPLYING: [&[u8]; 5] = [b"apply", b"destroy", b"import", b"up", b"watch"];
    if argv.is_null() {
        return;
    }
    // SAFETY: glibc passes the process's argc and argv, alive for the whole process.
    let args = (1..argc.max(0) as usize)
        .map(|i| unsafe { *argv.add(i) })
        .filter(|a| !a.is_null())
        .map(|a| unsafe { std::ffi::CStr::from_ptr(a) }.to_bytes());
    if args.into_iter().any(|a| APPLYING.contains(&a)) {
        // mimalloc 3 holds freed pages for a second before it gives them back (2 held
        // them 10 ms): an apply frees its parse as it builds the tasks and the
        // plan's parts as it writes them, so RSS stayed at the sum of all phases
        // (100,000 tasks: 443 - 485 MB, 350 MB with 10 ms, at the same speed).
        // SAFETY: sets two allocator options, before any thread exists; mimalloc
        // reads them when it reserves an arena and when it purges.
        unsafe {
            libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
            libmimalloc_sys::mi_option_set(PURGE_DELAY, 10);
        }
    }
}

/// mimalloc: config loading and planning allocate many small objects, and the
/// system allocator made them markedly slower.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
