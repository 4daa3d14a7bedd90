/**
 * The map commands: `map dump`, `map get`, `map set` and `map delete`
 * (`entries.ts`), `map push`, `map pop` and `map peek` (`queues.ts`), and
 * `map watch` (`ring_buf.ts`). This module holds the group's entry of the
 * command table ({@linkcode MAP}); each command's module is imported only
 * when it runs.
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

import { type Group, group, leaf } from "../_table.ts";

const MAP_PIN = { name: "pin", help: "pinned map" } as const;
const MAP_KEY = { name: "key", help: "the key: JSON or bytes" } as const;

/** `bpfx map`: the group of the map commands, each imported when it runs. */
export const MAP: Group = group({
  name: "map",
  summary: "read and write the entries of a pinned map",
  help:
    `KEY and VALUE are each one argument: JSON typed by the map's BTF, or bytes
as bpftool writes them, quoted as one argument. Per-CPU maps take one value
for every CPU, or a JSON array of one per CPU.

Examples:
  bpfx map dump /sys/fs/bpf/app/maps/counts --json
  bpfx map get /sys/fs/bpf/app/maps/counts 42
  bpfx map set /sys/fs/bpf/app/maps/flows '{"saddr": 1}' '{"pid": 42}'
  bpfx map set /sys/fs/bpf/app/maps/counts "hex 2a 00 00 00" "1 0 0 0 0 0 0 0"
  bpfx map delete /sys/fs/bpf/app/maps/counts 0x2a
  bpfx map push /sys/fs/bpf/app/maps/queue 7
  bpfx map watch /sys/fs/bpf/app/maps/events --json`,
  commands: [
    leaf({
      name: "dump",
      summary: "print every entry of a map, as it is read",
      help:
        `A table of keys and values (formatted by BTF, else hex bytes); with --json,
bpftool's JSON: [{"key": ["0x2a", ...], "value": [...], "formatted":
{"key": 42, "value": 1}}, ...], "values": [{"cpu": 0, "value": [...]}, ...]
for per-CPU maps, "formatted" only with BTF. Streams: memory stays bounded.`,
      json: "print bpftool's JSON array",
      options: {},
      args: [MAP_PIN],
      run: async ({ io, args: [pin], opts }) => {
        const { mapDumpCommand } = await import("./entries.ts");
        return await mapDumpCommand(io, pin, opts);
      },
    }),
    leaf({
      name: "get",
      summary: "print the value of a key",
      options: {},
      args: [MAP_PIN, MAP_KEY],
      run: async ({ io, args: [pin, key], opts }) => {
        const { mapGetCommand } = await import("./entries.ts");
        return mapGetCommand(io, pin, key, opts);
      },
    }),
    leaf({
      name: "set",
      summary: "add or replace an entry",
      json: "print the entry written as JSON",
      options: {
        noexist: {
          type: "boolean",
          help: "only add: refuse a key that exists",
          conflicts: ["exist"],
        },
        exist: {
          type: "boolean",
          help: "only replace: refuse a key that does not exist",
        },
      },
      args: [MAP_PIN, MAP_KEY, {
        name: "value",
        help: "the value: JSON or bytes",
      }],
      run: async ({ io, args: [pin, key, value], opts }) => {
        const { mapSetCommand } = await import("./entries.ts");
        return mapSetCommand(io, pin, key, value, opts);
      },
    }),
    leaf({
      name: "delete",
      summary: "remove an entry",
      json: "print the key removed as JSON",
      options: {},
      args: [MAP_PIN, MAP_KEY],
      run: async ({ io, args: [pin, key], opts }) => {
        const { mapDeleteCommand } = await import("./entries.ts");
        return mapDeleteCommand(io, pin, key, opts);
      },
    }),
    leaf({
      name: "push",
      summary: "add a value to a queue or stack",
      json: "print the value pushed as JSON",
      options: {
        exist: {
          type: "boolean",
          help: "when full, drop the oldest value instead of failing",
        },
      },
      args: [
        { name: "pin", help: "pinned queue or stack" },
        { name: "value", help: "the value: JSON or bytes" },
      ],
      run: async ({ io, args: [pin, value], opts }) => {
        const { mapPushCommand } = await import("./queues.ts");
        return mapPushCommand(io, pin, value, opts);
      },
    }),
    leaf({
      name: "pop",
      summary: "take the next value from a queue or stack",
      options: {},
      args: [{ name: "pin", help: "pinned queue or stack" }],
      run: async ({ io, args: [pin], opts }) => {
        const { mapTakeCommand } = await import("./queues.ts");
        return mapTakeCommand(io, pin, "pop", opts);
      },
    }),
    leaf({
      name: "peek",
      summary: "print the next value of a queue or stack, leaving it",
      options: {},
      args: [{ name: "pin", help: "pinned queue or stack" }],
      run: async ({ io, args: [pin], opts }) => {
        const { mapTakeCommand } = await import("./queues.ts");
        return mapTakeCommand(io, pin, "peek", opts);
      },
    }),
    leaf({
      name: "watch",
      summary: "print the records of a ring buffer as they come",
      help:
        `One line per record: its size and bytes in hex (--json: {"size": n, "data":
"<hex>"} per line). SIGINT and SIGTERM stop it cleanly.`,
      json: "print one JSON object per line",
      options: {},
      args: [{ name: "pin", help: "pinned ring buffer" }],
      run: async ({ io, args: [pin], opts, signal }) => {
        const { mapWatchCommand } = await import("./ring_buf.ts");
        return await mapWatchCommand(io, pin, opts, signal);
      },
    }),
  ],
});
