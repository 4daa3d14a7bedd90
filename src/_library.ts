// The core library's resolution for a module imported over http(s): the
// per-user cache, and the download of the library and its manifest, checked
// by sha256 and cached (src/ffi.ts binds it). Private to src/ffi.ts.

import {
  type AnyBpfError,
  BpfError,
  BpfNotFoundError,
  NotSupportedError,
} from "./errors.ts";

/** The ABI version this module speaks (docs/ABI.md). */
export const ABI_VERSION = 1;

/** Where the core library was found, and by which rule. */
export interface LibraryLocation {
  /** The library file on disk. */
  path: string;
  /** The rule that chose it. */
  source: "BPFX_LIB" | "dist" | "cache";
}

/** `dist/manifest.json`, as written by the Makefile. */
interface Manifest {
  name: string;
  version: string;
  abi: number;
  libraries: Record<string, { file: string; sha256: string }>;
}

/** The URL of src/ffi.ts, which names the library and its manifest. */
export const MODULE_URL = new URL("./ffi.ts", import.meta.url);
/** Whether the module was imported over http(s). */
export const REMOTE = MODULE_URL.protocol === "http:" ||
  MODULE_URL.protocol === "https:";
/** The target triple the library is built for. */
export const TARGET = Deno.build.target;

/** Reads an environment variable; one we may not read counts as unset. */
export function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return undefined;
    throw error;
  }
}

/** Whether reading the environment variable `name` is allowed. */
function envAllowed(name: string): boolean {
  return Deno.permissions.querySync({ name: "env", variable: name }).state ===
    "granted";
}

function cacheRoot(): string {
  const denoDir = env("DENO_DIR");
  if (denoDir) return denoDir;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/deno`;
  const home = env("HOME");
  if (home) return `${home}/.cache/deno`;
  const denied = ["DENO_DIR", "XDG_CACHE_HOME", "HOME"].filter((name) =>
    !envAllowed(name)
  );
  if (denied.length > 0) {
    throw new BpfError(
      `Cannot find a cache directory for the bpfx core: reading ${
        denied.join(", ")
      } is not allowed`,
      {
        kind: "permission",
        op: "cache",
        hint: `add --allow-env=${
          denied.join(",")
        } (or --allow-env), or set BPFX_LIB and allow reading it`,
      },
    );
  }
  throw new BpfError(
    "Cannot find a cache directory for the bpfx core: none of DENO_DIR, XDG_CACHE_HOME and HOME is set",
    {
      kind: "invalid",
      op: "cache",
      hint: "set DENO_DIR or BPFX_LIB (and allow reading it with --allow-env)",
    },
  );
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function download(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (cause) {
    throw new BpfError(`Cannot fetch "${url.href}"`, {
      kind: "os",
      op: "fetch",
      path: url.href,
      cause,
    });
  }
  if (response.status === 404 || response.status === 410) {
    await response.body?.cancel();
    throw new BpfNotFoundError(
      `Cannot fetch "${url.href}": HTTP ${response.status}`,
      {
        kind: "not-found",
        op: "fetch",
        path: url.href,
        hint:
          "the module's host serves no prebuilt core there; build one with `make` and set BPFX_LIB",
      },
    );
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new BpfError(`Cannot fetch "${url.href}": HTTP ${response.status}`, {
      kind: "os",
      op: "fetch",
      path: url.href,
    });
  }
  return new Uint8Array(await response.arrayBuffer());
}

function parseManifest(url: URL, bytes: Uint8Array): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new BpfError(`Cannot read the manifest "${url.href}": not JSON`, {
      kind: "invalid",
      op: "parse",
      path: url.href,
      cause,
    });
  }
  const m = value as Partial<Manifest> | null;
  if (
    m === null || typeof m !== "object" || m.name !== "bpfx" ||
    typeof m.version !== "string" || !/^[0-9A-Za-z.+-]+$/.test(m.version) ||
    typeof m.abi !== "number" || typeof m.libraries !== "object" ||
    m.libraries === null
  ) {
    throw new BpfError(
      `Cannot read the manifest "${url.href}": it is not a bpfx manifest`,
      { kind: "invalid", op: "parse", path: url.href },
    );
  }
  return m as Manifest;
}

function libraryEntry(
  url: URL,
  manifest: Manifest,
): { file: string; sha256: string } {
  if (manifest.abi !== ABI_VERSION) {
    throw new BpfError(
      `Cannot use the bpfx core listed in "${url.href}": it speaks ABI ${manifest.abi}, this module needs ABI ${ABI_VERSION}`,
      { kind: "incompatible", op: "manifest", path: url.href },
    );
  }
  const entry = manifest.libraries[TARGET];
  if (entry === undefined) {
    throw new NotSupportedError(
      `Cannot find a bpfx core for "${TARGET}" in "${url.href}"`,
      {
        kind: "not-supported",
        op: "manifest",
        path: url.href,
        feature: TARGET,
        hint: "build the core with `make` and set BPFX_LIB",
      },
    );
  }
  if (
    typeof entry.file !== "string" || !/^[A-Za-z0-9._-]+$/.test(entry.file) ||
    typeof entry.sha256 !== "string" || !/^[0-9a-fA-F]{64}$/.test(entry.sha256)
  ) {
    throw new BpfError(
      `Cannot read the manifest "${url.href}": bad entry for "${TARGET}"`,
      { kind: "invalid", op: "parse", path: url.href },
    );
  }
  return { file: entry.file, sha256: entry.sha256.toLowerCase() };
}

/** Writes `bytes` to `path` by a temporary file in the same directory. */
async function writeAtomic(
  path: string,
  bytes: Uint8Array,
  mode: number,
): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true });
  const temp = await Deno.makeTempFile({
    dir,
    prefix: ".bpfx-",
    suffix: ".tmp",
  });
  try {
    const file = await Deno.open(temp, { write: true });
    try {
      let done = 0;
      while (done < bytes.length) {
        done += await file.write(bytes.subarray(done));
      }
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.chmod(temp, mode);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}

const MANIFEST_URL = new URL("../dist/manifest.json", MODULE_URL);

/**
 * A synchronous SHA-256 for the cache's key, from `node:crypto` (WebCrypto
 * has none). Imported only by a module loaded over http(s): a local import
 * pays nothing for it (about 20 ms otherwise). A built-in module's import
 * cannot fail the way a download can, so this await is no import-time
 * failure.
 */
const nodeCrypto = REMOTE ? await import("node:crypto") : undefined;

/**
 * Where the manifest last fetched from this module's URL is kept, so a
 * later run finds the library with no network: named by its URL's sha256.
 */
function manifestCopyPath(root: string): string {
  const key = nodeCrypto!.createHash("sha256").update(MANIFEST_URL.href)
    .digest("hex");
  return `${root}/manifests/${key}.json`;
}

/**
 * The library of the cached manifest, when both are in the cache, found
 * synchronously; `undefined` when either is missing.
 */
export function cachedLibrary(): LibraryLocation | undefined {
  const root = `${cacheRoot()}/bpfx`;
  let manifestBytes: Uint8Array;
  try {
    manifestBytes = Deno.readFileSync(manifestCopyPath(root));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw toBpfError(error);
  }
  const manifest = parseManifest(MANIFEST_URL, manifestBytes);
  const entry = libraryEntry(MANIFEST_URL, manifest);
  const path = `${root}/${manifest.version}/${entry.sha256}/libbpfx_core.so`;
  return exists(path) ? { path, source: "cache" } : undefined;
}

export async function fetchLibrary(): Promise<LibraryLocation> {
  const cached = cachedLibrary();
  if (cached !== undefined) return cached;
  const manifestUrl = MANIFEST_URL;
  const root = `${cacheRoot()}/bpfx`;
  const manifestCopy = manifestCopyPath(root);
  const fresh = await download(manifestUrl);
  const manifest = parseManifest(manifestUrl, fresh);
  const entry = libraryEntry(manifestUrl, manifest);
  const path = `${root}/${manifest.version}/${entry.sha256}/libbpfx_core.so`;
  if (!exists(path)) {
    const libUrl = new URL(entry.file, manifestUrl);
    const bytes = await download(libUrl);
    const actual = await sha256Hex(bytes);
    if (actual !== entry.sha256) {
      throw new BpfError(
        `Cannot use "${libUrl.href}": its sha256 is ${actual}, the manifest says ${entry.sha256}`,
        {
          kind: "invalid",
          op: "sha256",
          path: libUrl.href,
          hint: "the download or the manifest is corrupt; nothing was cached",
        },
      );
    }
    await writeAtomic(path, bytes, 0o755);
  }
  await writeAtomic(manifestCopy, fresh, 0o644);
  return { path, source: "cache" };
}

export function toBpfError(error: unknown): AnyBpfError {
  if (
    error instanceof BpfError || error instanceof BpfNotFoundError
  ) return error;
  return new BpfError(
    `Cannot fetch the bpfx core for "${MODULE_URL.href}"`,
    {
      kind: error instanceof Deno.errors.NotCapable ? "permission" : "os",
      op: "fetch",
      hint:
        "a module imported by URL needs --allow-import, --allow-net, --allow-read, --allow-write and --allow-env the first time, or BPFX_LIB",
      cause: error,
    },
  );
}
