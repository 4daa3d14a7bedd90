/**
 * The pin commands: `ls`, `show` and `unpin`.
 *
 * @module
 */

import {
  type JsonValue,
  ls,
  type ObjectInfo,
  type PinEntry,
  show,
  unpin,
} from "../src/pins.ts";
import { type Io, jsonName, pairs, printJson, table } from "./output.ts";

/** Flags of `bpfx ls`. */
export interface LsFlags {
  depth?: number | undefined;
  json?: true | undefined;
}

/** `bpfx ls [DIR] [--depth N]`: the pins under DIR, as a table. */
export function lsCommand(io: Io, dir: string, flags: LsFlags): number {
  const entries = ls(
    dir,
    flags.depth === undefined ? {} : { depth: flags.depth },
  );
  if (flags.json) {
    printJson(io, entries.map(bpftoolShape));
    return 0;
  }
  if (entries.length === 0) {
    io.err(`No pins under "${dir}"\n`);
    return 0;
  }
  io.out(table(
    [
      { header: "PATH" },
      { header: "KIND" },
      { header: "ID", align: "right" },
      { header: "TYPE" },
      { header: "NAME" },
    ],
    entries.map((e) => [e.path, e.kind, String(e.id), e.type, e.name]),
  ));
  for (const e of entries) {
    if (e.error !== undefined) io.err(`warning: "${e.path}": ${e.error}\n`);
  }
  return 0;
}

/** The fields `show` prints first, in this order, and their labels. */
const LABELS = new Map<string, string>([
  ["path", "path"],
  ["kind", "kind"],
  ["id", "id"],
  ["name", "name"],
  ["type", "type"],
  ["tag", "tag"],
  ["loadTime", "loaded"],
  ["uid", "uid"],
  ["gplCompatible", "gpl compatible"],
  ["mapIds", "map ids"],
  ["xlatedBytes", "xlated bytes"],
  ["jitedBytes", "jited bytes"],
  ["keySize", "key size"],
  ["valueSize", "value size"],
  ["maxEntries", "max entries"],
  ["flags", "flags"],
  ["progId", "prog id"],
  ["target", "target"],
  ["btfId", "btf id"],
]);
const ORDER = [...LABELS.keys()];

/** `attachBtfId` → `attach btf id`, for fields without a label. */
function label(key: string): string {
  return LABELS.get(key) ??
    key.replace(/[A-Z]+/g, (upper) => ` ${upper.toLowerCase()}`);
}

function rank(key: string): number {
  const i = ORDER.indexOf(key);
  return i === -1 ? ORDER.length : i;
}

function formatValue(key: string, value: unknown): string {
  if (value === null || value === undefined || value === "") return "-";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (key === "flags" && typeof value === "number") {
    return `0x${value.toString(16)}`;
  }
  if (Array.isArray(value)) {
    return value.length === 0 ? "-" : value.map(String).join(", ");
  }
  if (typeof value === "object") {
    const parts = Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
    return parts.length === 0 ? "-" : parts.join(" ");
  }
  return String(value);
}

/** The lines `show` prints for an object. */
export function describe(info: ObjectInfo): string {
  const entries = Object.entries(info).sort(([a], [b]) =>
    rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0)
  );
  return pairs(
    entries.map(([key, value]) => [label(key), formatValue(key, value)]),
  );
}

/** The names bpftool's JSON gives a link's target fields. */
const BPFTOOL_TARGET_NAMES = new Map<string, string>([
  ["iter", "target_name"],
]);

/** bpftool's names of a cgroup iterator's walk orders. */
const BPFTOOL_ORDERS = new Map<string, string>([
  ["unspec", "order_unspec"],
  ["self", "self_only"],
  ["descendants-pre", "descendants_pre"],
  ["descendants-post", "descendants_post"],
  ["ancestors-up", "ancestors_up"],
]);

/**
 * An object or a pin as the command line's JSON gives it: with bpftool's
 * names and shapes (`bpftool -j prog|map|link show`) for what bpftool shows
 * too, and bpfx's own fields (`path`, `kind`, ...) in the same snake_case.
 * A link's target is flattened into the link, as bpftool has it; a
 * program's load time is in seconds since the epoch (`loaded_at`), and
 * `jited` says whether there is JIT-compiled code, with `bytes_jited` only
 * then. docs/api.md lists bpftool's fields bpfx does not give.
 */
export function bpftoolShape(
  info: ObjectInfo | PinEntry,
): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(info)) {
    if (value === undefined) continue;
    if (key === "target" && typeof value === "object" && value !== null) {
      for (const [k, v] of Object.entries(value as Record<string, JsonValue>)) {
        out[BPFTOOL_TARGET_NAMES.get(k) ?? jsonName(k)] =
          k === "order" && typeof v === "string"
            ? BPFTOOL_ORDERS.get(v) ?? v
            : v;
      }
      continue;
    }
    if (key === "loadTime") {
      out["loaded_at"] = typeof value === "string"
        ? Math.floor(Date.parse(value) / 1000)
        : null;
      continue;
    }
    if (key === "jitedBytes") {
      out["jited"] = value !== 0;
      if (value !== 0) out["bytes_jited"] = value as number;
      continue;
    }
    out[jsonName(key)] = value as JsonValue;
  }
  return out;
}

/** Flags of `bpfx show`. */
export interface ShowFlags {
  json?: true | undefined;
}

/** `bpfx show PIN`: the object pinned at PIN. */
export function showCommand(io: Io, pin: string, flags: ShowFlags): number {
  const info = show(pin);
  if (flags.json) printJson(io, bpftoolShape(info));
  else io.out(describe(info));
  return 0;
}

/** Flags of `bpfx unpin`. */
export interface UnpinFlags {
  recursive?: true | undefined;
  json?: true | undefined;
}

/** `bpfx unpin PIN [-r]`: removes a pin, or a directory of pins. */
export function unpinCommand(io: Io, pin: string, flags: UnpinFlags): number {
  const report = unpin(pin, { recursive: flags.recursive ?? false });
  if (flags.json) printJson(io, report);
  else {
    io.out(
      report.removed.map((p) => `removed ${p}\n`).join("") +
        report.kept.map((p) => `kept ${p}\n`).join(""),
    );
  }
  return 0;
}
