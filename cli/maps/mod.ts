/**
 * The map commands: `map dump`, `map get`, `map set`, `map delete` and
 * `map watch`.
 *
 * KEY and VALUE are each one argument: JSON typed by the map's BTF
 * (`'{"pid": 42}'`, `42`, `'"0x2a"'`), or bytes as bpftool writes them, in
 * one quoted argument (`"hex c8 00 00 00"`, `"200 0 0 0"`,
 * `"0xc8 0x00 0x00 0x00"`). `--json` prints entries the way `bpftool -j`
 * does: `{"key": ["0x01", ...], "value": [...], "formatted": {...}}`, with
 * `"values": [{"cpu": 0, "value": [...]}, ...]` for per-CPU maps and
 * `formatted` only for maps with BTF. `map dump` streams: it prints each
 * batch of entries as it is read.
 *
 * @module
 */

export { type MapFlags } from "./_print.ts";
export { keyBytes, parseInput, valueBytes } from "./_input.ts";
export {
  mapDeleteCommand,
  mapDumpCommand,
  mapGetCommand,
  mapSetCommand,
  type MapSetFlags,
} from "./entries.ts";
export { mapPushCommand, type MapPushFlags, mapTakeCommand } from "./queues.ts";
export { mapWatchCommand } from "./ring_buf.ts";
