/**
 * Output of the CLI: where text goes ({@linkcode Io}), plain aligned tables,
 * JSON, and how failures are reported.
 *
 * This module imports nothing, so that `--help` and usage errors stay cheap;
 * the error family is passed in by the callers that have loaded the API.
 *
 * @module
 */

/** Where the CLI writes, so that tests can run it in-process. */
export interface Io {
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /**
   * Writes bytes to standard output as they are (`bpfx cat`); without it,
   * they are decoded as UTF-8 and given to {@linkcode Io.out}.
   */
  write?(bytes: Uint8Array): void;
  /** Whether standard output is a terminal. */
  readonly isTerminal: boolean;
  /** Whether standard error is a terminal (progress lines are drawn only then). */
  readonly errIsTerminal?: boolean;
  /** The terminal's width for help text, when writing to a terminal. */
  readonly columns: number | undefined;
}

const encoder = new TextEncoder();

function writeAll(file: typeof Deno.stdout, text: string): void {
  writeBytes(file, encoder.encode(text));
}

function writeBytes(file: typeof Deno.stdout, bytes: Uint8Array): void {
  let done = 0;
  try {
    while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
  } catch (error) {
    // The reader went away (`bpfx ls | head`): stop writing quietly.
    if (error instanceof Deno.errors.BrokenPipe) return;
    throw error;
  }
}

/** The process's own standard output and error. */
export function denoIo(): Io {
  return {
    out: (text) => writeAll(Deno.stdout, text),
    err: (text) => writeAll(Deno.stderr, text),
    write: (bytes) => writeBytes(Deno.stdout, bytes),
    get isTerminal() {
      return Deno.stdout.isTerminal();
    },
    get errIsTerminal() {
      return Deno.stderr.isTerminal();
    },
    get columns() {
      if (!Deno.stdout.isTerminal() && !Deno.stderr.isTerminal()) {
        return undefined;
      }
      try {
        return Deno.consoleSize().columns;
      } catch {
        return undefined;
      }
    },
  };
}

// What a terminal would act on: C0 and C1 controls, DEL, bidi overrides;
// and the lone surrogates by which a report gives a name's byte that is not
// UTF-8 (src/names.ts), written as that byte (`\xff`).
// deno-lint-ignore no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\udc80-\udcff]/gu;
// The same but for the newlines and tabs that lay out the CLI's lines.
const UNSAFE_IN_LINES =
  // deno-lint-ignore no-control-regex
  /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\udc80-\udcff]/gu;

/**
 * `text` safe for a terminal: C0 and C1 control characters (escape sequences
 * included), DEL and the bidirectional overrides are written as `\xNN` or
 * `\u{NNNN}`, so a name
 * a user chose (a pin, a cgroup, a map, a file) cannot move the cursor, change
 * colours or reorder what is shown. Text bpfx wrote itself passes unchanged.
 */
export function escapeText(text: string): string {
  return escapeAll(text, UNSAFE);
}

/**
 * `text` as {@linkcode escapeText} makes it, but for the newlines and tabs
 * that lay out the CLI's own lines: what every text line of the CLI passes
 * through on its way out ({@linkcode withJson}), whatever built it.
 */
export function escapeLines(text: string): string {
  return escapeAll(text, UNSAFE_IN_LINES);
}

/**
 * `text` with each character `unsafe` matches written as `\xNN` (controls,
 * DEL, a name's byte that is not UTF-8) or `\u{NNNN}` (bidi). Text with
 * none, such as a large JSON document, is returned as it is, with no copy.
 */
function escapeAll(text: string, unsafe: RegExp): string {
  unsafe.lastIndex = 0;
  if (!unsafe.test(text)) return text;
  unsafe.lastIndex = 0;
  return text.replace(unsafe, (ch) => {
    const c = ch.charCodeAt(0);
    if (c >= 0xdc80 && c <= 0xdcff) return `\\x${(c - 0xdc00).toString(16)}`;
    return c <= 0x9f
      ? `\\x${c.toString(16).padStart(2, "0")}`
      : `\\u{${c.toString(16)}}`;
  });
}

/** How a table column is aligned. */
export type Align = "left" | "right";

/** A column of {@linkcode table}. */
export interface Column {
  /** The header, printed as is. */
  header: string;
  /** Alignment; left by default. */
  align?: Align;
}

/**
 * Formats rows as a plain table: a header line, columns separated by two
 * spaces, no trailing spaces. An empty `rows` gives only the header.
 */
export function table(
  columns: readonly Column[],
  rows: readonly string[][],
): string {
  rows = rows.map((r) => r.map(escapeText));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...rows.map((r) => (r[i] ?? "").length))
  );
  const line = (cells: readonly string[]) =>
    columns.map((c, i) => {
      const cell = cells[i] ?? "";
      const width = widths[i] ?? 0;
      if (c.align === "right") return cell.padStart(width);
      return i === columns.length - 1 ? cell : cell.padEnd(width);
    }).join("  ").trimEnd() + "\n";
  return line(columns.map((c) => c.header)) + rows.map(line).join("");
}

/** Formats `[label, value]` pairs as two aligned columns, no header. */
export function pairs(entries: readonly (readonly [string, string])[]): string {
  entries = entries.map(([k, v]) => [k, escapeText(v)] as const);
  const width = Math.max(0, ...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd() + "\n")
    .join("");
}

/** Where {@linkcode drawProgress} writes: standard error as it is. */
const RAW_ERR = Symbol("raw standard error");

/** An {@linkcode Io} that knows how JSON is wanted (`-p`: indented). */
interface JsonIo extends Io {
  readonly pretty?: boolean;
  readonly [RAW_ERR]?: (text: string) => void;
}

/**
 * `io` with the JSON style of the command line: compact, as `bpftool -j`
 * writes it, or indented with `pretty` (`-p`, `--pretty`). Its text output
 * and errors pass through {@linkcode escapeLines}, so that no path of the
 * CLI writes a name it did not choose raw to a terminal; bytes
 * ({@linkcode Io.write}, `bpfx cat`) pass as they are.
 */
export function withJson(io: Io, style: { pretty: boolean }): Io {
  const wrapped: JsonIo = Object.create(io, {
    pretty: { value: style.pretty, enumerable: true },
    out: { value: (text: string) => io.out(escapeLines(text)) },
    err: { value: (text: string) => io.err(escapeLines(text)) },
    [RAW_ERR]: { value: (text: string) => io.err(text) },
  });
  return wrapped;
}

/**
 * Draws a progress line of bpfx's own (`\r`, `ESC[K`) on standard error,
 * past the escaping of {@linkcode withJson}: `text` must hold no name.
 */
export function drawProgress(io: Io, text: string): void {
  ((io as JsonIo)[RAW_ERR] ?? io.err)(text);
}

/** Whether `io` wants indented JSON (`-p`, `--pretty`). */
export function isPretty(io: Io): boolean {
  return (io as JsonIo).pretty === true;
}

/**
 * JSON text safe for a terminal, and still the same JSON: `JSON.stringify`
 * escapes C0 controls, and this writes DEL, C1 controls and the
 * bidirectional overrides, which it leaves raw, as `\uNNNN` too. Every JSON
 * the CLI writes passes through it.
 */
export function safeJson(json: string): string {
  return json.replace(
    /[\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * The API's field names that bpftool's JSON (`bpftool -j prog|map show`)
 * spells otherwise, for the same field; every other name is made snake_case.
 */
export const BPFTOOL_NAMES: ReadonlyMap<string, string> = new Map([
  ["xlatedBytes", "bytes_xlated"],
  ["jitedBytes", "bytes_jited"],
  ["keySize", "bytes_key"],
  ["valueSize", "bytes_value"],
]);

/** `mapIds` → `map_ids`, or bpftool's own name where it has one. */
export function jsonName(key: string): string {
  return BPFTOOL_NAMES.get(key) ??
    key.replace(/[A-Z]/g, (upper) => `_${upper.toLowerCase()}`);
}

/** The objects whose keys are data (map fields from BTF), kept as they are. */
const DATA = new WeakSet<object>();

/**
 * Marks `value` as data: {@linkcode cliJson} keeps its keys, and those of
 * everything in it, as they are (a struct's field names, from BTF).
 */
export function asData<T extends object>(value: T): T {
  DATA.add(value);
  return value;
}

/**
 * `value` as the command line's JSON gives it: each object's keys in
 * snake_case, with bpftool's names where bpftool has the same field
 * ({@linkcode jsonName}), whatever the API called them (the TypeScript API
 * keeps camelCase). What {@linkcode asData} marked keeps its keys.
 */
export function cliJson(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (DATA.has(value)) return value;
  const json = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof json === "function") return cliJson(json.call(value));
  if (Array.isArray(value)) return value.map(cliJson);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v !== undefined) out[jsonName(key)] = cliJson(v);
  }
  return out;
}

/**
 * `value` as one line of the command line's JSON ({@linkcode cliJson},
 * {@linkcode safeJson}), compact, with no newline: `watch --json`'s lines.
 */
export function jsonLine(value: unknown): string {
  return safeJson(JSON.stringify(cliJson(value)));
}

/**
 * Writes `value` as the command line's JSON ({@linkcode cliJson}) and a
 * newline to standard output.
 */
export function printJson(io: Io, value: unknown): void {
  const pretty = (io as JsonIo).pretty ?? true;
  io.out(
    safeJson(JSON.stringify(cliJson(value), null, pretty ? 2 : undefined)) +
      "\n",
  );
}

/** The fields of a bpfx error the CLI prints (see `BpfErrorFields`). */
export interface ErrorFields {
  readonly kind: string;
  readonly op: string;
  readonly errno: number;
  readonly path?: string;
  readonly hint?: string;
  readonly log?: string;
  readonly feature?: string;
}

/** Recognises errors of the bpfx family; the API's `isBpfError`. */
export type ErrorGuard = (error: unknown) => error is Error & ErrorFields;

const LOG_TAIL = 40;

function causes(error: unknown): string[] {
  const out: string[] = [];
  let cause = error instanceof Error ? error.cause : undefined;
  for (let depth = 0; cause !== undefined && depth < 8; depth++) {
    out.push(cause instanceof Error ? cause.message : String(cause));
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return out;
}

/** The `{"error": {...}}` document printed by `--json` on failure. */
export function errorDocument(error: unknown, isBpfError: ErrorGuard): {
  error: Record<string, unknown>;
} {
  const chain = causes(error);
  if (isBpfError(error)) {
    return {
      error: {
        kind: error.kind,
        op: error.op,
        errno: error.errno,
        message: error.message,
        path: error.path ?? null,
        log: error.log ?? null,
        feature: error.feature ?? null,
        hint: error.hint ?? null,
        causes: chain,
      },
    };
  }
  return {
    error: {
      kind: "internal",
      op: "bpfx",
      errno: 0,
      message: error instanceof Error ? error.message : String(error),
      path: null,
      log: null,
      feature: null,
      hint: null,
      causes: chain,
    },
  };
}

/**
 * Reports a runtime failure: `error: <message>`, the cause chain, the tail of
 * a verifier log and the hint to standard error (no stack trace), and with
 * `json` the error document to standard output too. Returns the exit code, 1.
 */
export function fail(
  io: Io,
  error: unknown,
  json: boolean,
  isBpfError: ErrorGuard,
): number {
  if (json) printJson(io, errorDocument(error, isBpfError));
  const message = error instanceof Error ? error.message : String(error);
  let text = `error: ${message}\n`;
  for (const cause of causes(error)) text += `  caused by: ${cause}\n`;
  if (isBpfError(error)) {
    if (error.log) {
      const lines = error.log.trimEnd().split("\n");
      const shown = lines.slice(-LOG_TAIL);
      text += lines.length > shown.length
        ? `  verifier log (last ${shown.length} of ${lines.length} lines; --json has all):\n`
        : "  verifier log:\n";
      text += shown.map((l) => `    ${l}\n`).join("");
    }
    if (error.hint) text += `  hint: ${error.hint}\n`;
  }
  io.err(text.split("\n").map(escapeText).join("\n"));
  return 1;
}
