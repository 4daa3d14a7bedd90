/**
 * The label decoders' lookups, with what they keep: system call and errno
 * names and kernel symbols for as long as the collector lives, interface
 * names and the cgroup tree for one scrape.
 *
 * @module
 */

import { call } from "../_call.ts";
import {
  bytesLabel,
  bytesOf,
  cString,
  hexBytes,
  inetText,
  readBig,
} from "./_fields.ts";
import type { PreparedLabel } from "./_sources.ts";

/** Each cgroup's path below the cgroup2 mount, by id. */
export interface CgroupTable {
  readonly root: string;
  readonly byId: Map<bigint, string>;
}

function hexToBytes(hex: string): Uint8Array {
  const b = new Uint8Array(hex.length / 2);
  for (let i = 0; i < b.length; i++) {
    b[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return b;
}

function isSigned(l: PreparedLabel): boolean {
  const t = l.field.type;
  return (t.kind === "int" || t.kind === "enum") && t.signed;
}

/** An unsigned integer of 1, 2 or 4 bytes at `at`. */
function readSmall(dv: DataView, at: number, size: number): number {
  return size === 1
    ? dv.getUint8(at)
    : size === 2
    ? dv.getUint16(at, true)
    : dv.getUint32(at, true);
}

/** The lookups of the label decoders; see the module doc. */
export class Decoders {
  #syscalls: Map<number, string> | undefined;
  #errnos: Map<number, string> | undefined;
  readonly #ksyms = new Map<bigint, string>();
  #cgroups: CgroupTable | undefined;
  #ifnames = new Map<number, string>();

  /** Forgets what holds for one scrape only. */
  newScrape(): void {
    this.#cgroups = undefined;
    this.#ifnames = new Map();
  }

  /** The label of `l` from the key at `base`. */
  decode(
    l: PreparedLabel,
    dv: DataView,
    u8: Uint8Array,
    base: number,
  ): string {
    switch (l.decoder) {
      case "uint":
        return l.field.size <= 4 && !isSigned(l)
          ? String(readSmall(dv, base + l.field.offset, l.field.size))
          : readBig(dv, base, l.field).toString();
      case "hex": {
        const f = l.field;
        if (f.type.kind === "int" && f.size <= 8) {
          return `0x${BigInt.asUintN(64, readBig(dv, base, f)).toString(16)}`;
        }
        return hexBytes(bytesOf(u8, base, f));
      }
      case "string":
        return cString(bytesOf(u8, base, l.field));
      case "inet_ip":
        return inetText(bytesOf(u8, base, l.field));
      case "static": {
        const n = readBig(dv, base, l.field).toString();
        return l.values[n] ?? n;
      }
      case "errno": {
        const n = Math.abs(Number(readBig(dv, base, l.field)));
        return this.#tables().errnos.get(n) ?? String(n);
      }
      case "syscall": {
        const n = Number(readBig(dv, base, l.field));
        return this.#tables().syscalls.get(n) ?? String(n);
      }
      case "ifname": {
        const n = Number(readBig(dv, base, l.field));
        let name = this.#ifnames.get(n);
        if (name === undefined) {
          name = call<(string | null)[]>("ifnames", { indexes: [n] })[0] ??
            String(n);
          this.#ifnames.set(n, name);
        }
        return name;
      }
      case "ksym": {
        const a = BigInt.asUintN(64, readBig(dv, base, l.field));
        let name = this.#ksyms.get(a);
        if (name === undefined) {
          name =
            call<(string | null)[]>("ksyms", { addrs: [a.toString()] })[0] ??
              `0x${a.toString(16)}`;
          this.#ksyms.set(a, name);
        }
        return name;
      }
      case "cgroup": {
        const id = BigInt.asUintN(64, readBig(dv, base, l.field));
        return this.cgroupTable().byId.get(id) ?? id.toString();
      }
    }
  }

  #tables(): { syscalls: Map<number, string>; errnos: Map<number, string> } {
    if (this.#syscalls === undefined || this.#errnos === undefined) {
      const t = call<
        { syscalls: [number, string][]; errnos: [number, string][] }
      >("name_tables", {});
      this.#syscalls = new Map(t.syscalls);
      this.#errnos = new Map(t.errnos);
    }
    return { syscalls: this.#syscalls, errnos: this.#errnos };
  }

  /**
   * Each cgroup's path below the cgroup2 mount (`/a/b`), by id: read once
   * per scrape, when first needed.
   */
  cgroupTable(): CgroupTable {
    if (this.#cgroups !== undefined) return this.#cgroups;
    const r = call<
      { root: string; cgroups: { id: number; path?: string; hex?: string }[] }
    >("cgroup_paths", {});
    const byId = new Map<bigint, string>();
    for (const c of r.cgroups) {
      const rel = c.path !== undefined
        ? c.path.replaceAll("%", "%25")
        : bytesLabel(hexToBytes(c.hex ?? ""));
      byId.set(BigInt(c.id), `/${rel}`);
    }
    this.#cgroups = { root: r.root.replace(/\/+$/, ""), byId };
    return this.#cgroups;
  }
}
