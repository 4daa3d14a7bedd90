/**
 * A desired-state file read: YAML (JSON being YAML too) parsed with the
 * `yaml` package, which keeps each node's place, its shape checked against
 * `schema.json` with `ajv`, then the checks of `check.ts`; every error
 * names the file, the line, the column and the entry. Both packages are
 * loaded only here; `mod.ts` does not import this module (which would fetch
 * them for every user of the module): import it as the package's `./desired`
 * export, or `src/desired/file.ts`. `bpfx plan` and `bpfx apply` import it
 * when they run.
 *
 * Needs `--allow-ffi` (the core reads the file) and
 * `--allow-env=LOG_TOKENS,LOG_STREAM` (the `yaml` package reads them).
 *
 * @module
 */

import * as pkg from "./_packages.ts";
import schema from "./schema.json" with { type: "json" };
import { readText } from "./_bytes.ts";
import {
  check,
  type DesiredChecks,
  desiredError,
  entryName,
  type Locate,
  type NodePath,
} from "./check.ts";
import type { DesiredState } from "./types.ts";

export { metricsOf } from "./check.ts";

/** The directory of `path` (`.` for a bare name). */
function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** Names the entry a key path is in: `objects[0] "web"`, or `the file`. */
function entryOf(d: unknown, path: NodePath): string {
  const [list, index] = path;
  if (typeof list !== "string" || typeof index !== "number") return "the file";
  const e = (d as Record<string, unknown[]>)[list]?.[index] as
    | { name?: unknown }
    | undefined;
  return entryName(list, index, e?.name);
}

/** A desired state read from a file, checked. */
export interface DesiredFile {
  /** The file, as given. */
  readonly file: string;
  /** What it holds, relative object paths taken from its directory. */
  readonly desired: DesiredState;
  /** The checks' results, for `plan()` and `apply()`. */
  readonly checked: DesiredChecks;
  /** Where the node at a key path was read: `"FILE:LINE:COLUMN: "`. */
  readonly locate: Locate;
}

let validator: ReturnType<pkg.Ajv["compile"]> | undefined;

/**
 * Reads, parses and checks the desired-state file at `path`. Object paths
 * that are relative are taken from the file's directory.
 *
 * @throws {DesiredError} (a {@linkcode BpfError} of kind `invalid`, op
 * `validate`) naming the file, the line and column, and the entry, for text that is not YAML, an unknown
 * key, a value of the wrong type, a name or pin path used twice, an object
 * file missing or not ELF, a program the object lacks or of the wrong type.
 */
export function readDesired(path: string): DesiredFile {
  return parseDesired(readText(path), path);
}

/**
 * Parses and checks `text` as the desired-state file at `path` (which
 * names it in errors, and whose directory relative object paths are taken
 * from), as {@linkcode readDesired} does once it has read the file.
 *
 * @throws {DesiredError} as {@linkcode readDesired} does.
 */
export function parseDesired(text: string, path: string): DesiredFile {
  const lines = new pkg.LineCounter();
  const doc = pkg.parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `${path}:${line}:${col}: `;
  };
  const first = doc.errors[0];
  if (first !== undefined) {
    throw desiredError(
      at(first.pos[0]),
      "the file",
      `not valid YAML: ${first.message.split("\n")[0]}`,
      path,
    );
  }
  const data: unknown = doc.toJS();
  /** The node at `p`, or the nearest above it that exists. */
  const locate: Locate = (p) => {
    for (let n = p.length; n >= 0; n--) {
      const node = doc.getIn(p.slice(0, n), true);
      if (pkg.isNode(node) && node.range) return at(node.range[0]);
    }
    return `${path}:1:1: `;
  };
  /** The key `key` of the map at `p` (an unknown key's place). */
  const locateKey = (p: NodePath, key: string): string => {
    const map = p.length === 0 ? doc.contents : doc.getIn(p, true);
    if (pkg.isMap(map)) {
      for (const item of map.items) {
        if (
          pkg.isPair(item) && pkg.isScalar(item.key) && item.key.value === key
        ) {
          const k = item.key as pkg.Node;
          if (k.range) return at(k.range[0]);
        }
      }
    }
    return locate(p);
  };
  validator ??= new pkg.Ajv({
    allErrors: false,
    strict: true,
    allowUnionTypes: true,
  }).compile(schema);
  if (!validator(data)) {
    const e = validator.errors?.[0];
    const p: NodePath = (e?.instancePath ?? "").split("/").slice(1).map((
      s,
    ) =>
      /^[0-9]+$/.test(s)
        ? Number(s)
        : s.replaceAll("~1", "/").replaceAll("~0", "~")
    );
    const entry = entryOf(data, p);
    const field = p.length > 2 ? ` "${p.slice(2).join(".")}"` : "";
    if (e?.keyword === "additionalProperties") {
      const key = String(e.params.additionalProperty);
      throw desiredError(
        locateKey(p, key),
        entry,
        `unknown key "${key}"`,
        path,
      );
    }
    const why = e?.keyword === "required"
      ? `missing key "${e.params.missingProperty}"`
      : `${field === "" ? "the value" : `key${field}`} ${
        e?.message ?? "is not valid"
      }`;
    throw desiredError(locate(p), entry, why, path);
  }
  const given = data as DesiredState;
  const base = dirOf(path);
  const desired: DesiredState = {
    ...given,
    ...(given.objects === undefined ? {} : {
      objects: given.objects.map((o) => ({
        ...o,
        path: o.path.startsWith("/") ? o.path : `${base}/${o.path}`,
      })),
    }),
  };
  return {
    file: path,
    desired,
    checked: check(desired, locate, path),
    locate,
  };
}

export { DesiredError } from "./check.ts";
