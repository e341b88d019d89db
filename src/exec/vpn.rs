//! The `vpn` and `vpn:HOST` dependencies: is the company network reachable?
//!
//! `vpn:HOST` asks the resolver, since a split-DNS VPN is up exactly when its internal
//! names resolve. Bare `vpn` looks for a tunnel interface that is up and running
//! (carrier present: a VPN client that died leaves its device up but without carrier).

use std::net::ToSocketAddrs;

/// `None` when the VPN is up, else why it is not.
pub fn check(host: Option<&str>) -> Option<String> {
    match host {
        Some(host) => match (host, 0).to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(_)) => None,
            Ok(None) => Some(format!("VPN host \"{host}\" has no address")),
            Err(e) => Some(format!("VPN host \"{host}\" does not resolve: {e}")),
        },
        None => match tunnels() {
            Ok(up) if !up.is_empty() => None,
            Ok(_) => {
                Some("no VPN interface (tun, tap, ppp, WireGuard) is up and running".to_string())
            }
            Err(e) => Some(format!("cannot list network interfaces: {e}")),
        },
    }
}

/// Interface name prefixes VPN clients use: OpenVPN (tun, tap), PPP and L2TP (ppp),
/// WireGuard (wg), macOS (utun, ipsec), Tailscale, ZeroTier (zt), NordLynx,
/// GlobalProtect (gpd).
#[cfg(unix)]
const PREFIXES: [&str; 10] = [
    "tun",
    "tap",
    "ppp",
    "wg",
    "utun",
    "ipsec",
    "tailscale",
    "zt",
    "nordlynx",
    "gpd",
];

/// Names of the tunnel interfaces that are up and running.
#[cfg(unix)]
pub fn tunnels() -> std::io::Result<Vec<String>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we free below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut names = Vec::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned, not yet freed.
        let node = unsafe { &*cursor };
        cursor = node.ifa_next;
        if node.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(node.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let flags = node.ifa_flags as libc::c_int;
        let running = flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0;
        if running && is_tunnel(&name) && !names.contains(&name) {
            names.push(name);
        }
    }
    // SAFETY: frees the list getifaddrs allocated, once.
    unsafe { libc::freeifaddrs(list) };
    Ok(names)
}

#[cfg(not(unix))]
pub fn tunnels() -> std::io::Result<Vec<String>> {
    Err(std::io::Error::other(
        "this version of orc checks VPN interfaces on Linux and macOS only; use vpn:HOST",
    ))
}

#[cfg(unix)]
fn is_tunnel(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    PREFIXES.iter().any(|p| lower.starts_with(p)) || linux_tunnel_type(name)
}

/// On Linux a tunnel has no link-layer address (type 65534: tun, WireGuard) or is
/// PPP (512), or is a tun/tap device (it has `tun_flags`), whatever its name.
#[cfg(unix)]
fn linux_tunnel_type(name: &str) -> bool {
    let dir = std::path::Path::new("/sys/class/net").join(name);
    if dir.join("tun_flags").exists() {
        return true;
    }
    std::fs::read_to_string(dir.join("type")).is_ok_and(|t| matches!(t.trim(), "512" | "65534"))
}
