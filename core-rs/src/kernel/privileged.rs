//! Whether this process may use bpf(2) as bpfx needs: what both `load` (to
//! tell a kernel's refusal from a missing privilege) and `doctor` ask.

pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_BPF: u32 = 39;

/// Whether this process may use bpf(2) as bpfx needs: root with
/// CAP_SYS_ADMIN, or CAP_BPF with CAP_SYS_ADMIN.
pub fn privileged() -> bool {
    let (uid0, eff) = capabilities();
    let has = |c: u32| eff & (1 << c) != 0;
    (uid0 && has(CAP_SYS_ADMIN)) || (has(CAP_BPF) && has(CAP_SYS_ADMIN))
}

/// Whether this process runs as uid 0 (effective), and its effective
/// capability set, from `/proc/self/status`.
pub fn capabilities() -> (bool, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let uid0 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false);
    (uid0, eff)
}
