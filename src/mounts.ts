/**
 * Mounting and unmounting bpffs ({@linkcode mountBpffs}, {@linkcode unmount}).
 *
 * @module
 */

import { call } from "./_call.ts";

/**
 * Mounts a new bpffs at the directory `path`. With `CONFIG_BPF_PRELOAD`, a
 * new bpffs already holds `maps.debug` and `progs.debug`.
 *
 * Needs `--allow-ffi`, and root (CAP_SYS_ADMIN in the mount namespace).
 */
export function mountBpffs(path: string): void {
  call<Record<string, never>>("mount_bpffs", { path });
}

/**
 * Unmounts the filesystem mounted at `path`. Objects pinned only there are
 * released.
 *
 * Needs `--allow-ffi`, and root (CAP_SYS_ADMIN in the mount namespace).
 *
 * @throws {BpfError} of kind `busy` while the mount is in use.
 */
export function unmount(path: string): void {
  call<Record<string, never>>("umount", { path });
}
