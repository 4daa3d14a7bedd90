// Importing bpfx by URL: the repository served over HTTP on 127.0.0.1, run by
// a Deno with an empty DENO_DIR and no BPFX_LIB. The core library is fetched
// by the manifest in dist/, checked against its sha256 and cached under
// <DENO_DIR>/bpfx/<version>/<sha256>/ (src/ffi.ts); a later run needs no
// network.
import { load, ls, version } from "../mod.ts";
import {
  assert,
  HELLO,
  kernelTest,
  privateBpffs,
  ROOT,
  run,
} from "./_kernel.ts";

const DENO = `${ROOT}/node_modules/.bin/deno`;
const TARGET = Deno.build.target;
const MANIFEST_PATH = "/dist/manifest.json";

interface Manifest {
  version: string;
  libraries: Record<string, { file: string; sha256: string }>;
}

const manifest: Manifest = JSON.parse(
  await Deno.readTextFile(`${ROOT}${MANIFEST_PATH}`),
);
const entry = manifest.libraries[TARGET];
const LIBRARY_PATH = `/dist/${entry?.file}`;

// ---------------------------------------------------------------------------
// The file server

/** What a test serves instead of the file: a body, or null for a 404. */
type Overrides = Record<string, string | null>;

interface Server extends AsyncDisposable {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  /** The paths requested so far. */
  readonly requests: string[];
  /** Shuts the server down; safe to call twice. */
  stop(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ts: "application/typescript",
  json: "application/json",
};

/**
 * Serves the repository's files on a random port of 127.0.0.1, until it is
 * stopped or disposed.
 */
function serveRepo(overrides: Overrides = {}): Server {
  const requests: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      requests.push(path);
      const notFound = () => new Response("not found\n", { status: 404 });
      if (req.method !== "GET" && req.method !== "HEAD") {
        return new Response("method not allowed\n", { status: 405 });
      }
      const ext = path.slice(path.lastIndexOf(".") + 1);
      const headers = {
        "content-type": TYPES[ext] ?? "application/octet-stream",
      };
      if (path in overrides) {
        const body = overrides[path];
        return body === null || body === undefined
          ? notFound()
          : new Response(body, { headers });
      }
      if (path.split("/").some((part) => part === ".." || part === ".git")) {
        return notFound();
      }
      try {
        const file = `${ROOT}${path}`;
        if (!(await Deno.stat(file)).isFile) return notFound();
        return new Response(await Deno.readFile(file), { headers });
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return notFound();
        throw e;
      }
    },
  );
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    requests,
    stop() {
      return stopped ??= server.shutdown().then(() => server.finished);
    },
    [Symbol.asyncDispose]() {
      return this.stop();
    },
  };
}

// ---------------------------------------------------------------------------
// A case: its own temporary DENO_DIR and working directory

interface Case extends AsyncDisposable {
  /** The empty DENO_DIR of this case. */
  readonly denoDir: string;
  /** The working directory: no deno.json, package.json or node_modules. */
  readonly work: string;
  /** Runs Deno there, with only the environment it needs. */
  deno(args: string[]): Promise<{
    code: number;
    stdout: string;
    stderr: string;
  }>;
}

/**
 * Variables passed on to the subprocess when set: a proxy, and the CA files
 * a TLS-inspecting proxy needs (Deno honours NODE_EXTRA_CA_CERTS and
 * DENO_CERT, not SSL_CERT_FILE).
 */
const PASSED = [
  "PATH",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "NODE_EXTRA_CA_CERTS",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
];

async function freshCase(extra: Record<string, string> = {}): Promise<Case> {
  const dir = await Deno.makeTempDir({ prefix: "bpfxurl-" });
  const denoDir = `${dir}/deno`;
  const work = `${dir}/work`;
  await Deno.mkdir(denoDir);
  await Deno.mkdir(work);
  const env: Record<string, string> = {
    DENO_DIR: denoDir,
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
    ...extra,
  };
  for (const name of PASSED) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return {
    denoDir,
    work,
    async deno(args) {
      // clearEnv: no BPFX_LIB, no XDG_CACHE_HOME, no HOME.
      return await run(DENO, args, {
        cwd: work,
        env,
        clearEnv: true,
        stdin: "null",
      });
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

// ---------------------------------------------------------------------------
// Checks

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Every file below `dir`, relative to it, sorted; [] when it is missing. */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string, rel: string) {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`, `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  }
  try {
    await walk(dir, "");
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** The library is cached by version and sha256, with the manifest's copy. */
async function assertCached(c: Case, server: Server): Promise<void> {
  assert.ok(entry, `dist/manifest.json lists no library for ${TARGET}`);
  const manifestUrl = `${server.url}${MANIFEST_PATH.slice(1)}`;
  const key = await sha256(new TextEncoder().encode(manifestUrl));
  assert.deepEqual(await files(`${c.denoDir}/bpfx`), [
    `${manifest.version}/${entry.sha256}/libbpfx_core.so`,
    `manifests/${key}.json`,
  ]);
  const cached = await Deno.readFile(
    `${c.denoDir}/bpfx/${manifest.version}/${entry.sha256}/libbpfx_core.so`,
  );
  assert.equal(await sha256(cached), entry.sha256, "the cached library");
  assert.equal(
    await Deno.readTextFile(`${c.denoDir}/bpfx/manifests/${key}.json`),
    await Deno.readTextFile(`${ROOT}${MANIFEST_PATH}`),
    "the cached manifest",
  );
}

type Output = Awaited<ReturnType<Case["deno"]>>;

function dump(label: string, o: Output): string {
  return `${label}: exit ${o.code}\n--- stdout\n${o.stdout}--- stderr\n${o.stderr}`;
}

/** The `{"error": {...}}` document a failed `--json` command prints. */
function errorOf(o: Output, label: string): Record<string, unknown> {
  let doc: { error?: Record<string, unknown> };
  try {
    doc = JSON.parse(o.stdout);
  } catch {
    assert.fail(`${label}: stdout is not JSON\n${dump(label, o)}`);
  }
  assert.ok(doc.error, `${label}: no error document\n${dump(label, o)}`);
  return doc.error;
}

/** Fails when `text` holds a JavaScript stack trace. */
function noStack(text: string, label: string): void {
  assert.ok(
    !/^\s+at .+[:(]/m.test(text),
    `${label}: a stack trace was printed:\n${text}`,
  );
}

// ---------------------------------------------------------------------------
// Tests

kernelTest(
  "cli.ts by URL lists a private bpffs from an empty DENO_DIR, then runs offline from the cache",
  async () => {
    await using b = await privateBpffs();
    load(HELLO, { pinDir: `${b.path}/h`, pinByNameRoot: b.path });
    const expected = ls(b.path);
    await using c = await freshCase();
    await using server = serveRepo();
    const args = [`${server.url}cli.ts`, "ls", b.path, "--json"];
    const first = await c.deno(["run", "-A", ...args]);
    assert.equal(first.code, 0, dump("first run", first));
    const listed = JSON.parse(first.stdout);
    assert.ok(Array.isArray(listed), first.stdout);
    assert.deepEqual(listed, expected);
    assert.ok(server.requests.includes(LIBRARY_PATH), "fetched the core");
    await assertCached(c, server);

    // Offline: no server, and Deno may use only its cache.
    await server.stop();
    const again = await c.deno(["run", "-A", "--cached-only", ...args]);
    assert.equal(again.code, 0, dump("offline run", again));
    assert.deepEqual(JSON.parse(again.stdout), expected);
    await assertCached(c, server);
  },
  { needs: ["iterator task"] },
);

Deno.test(
  "mod.ts by URL gives version() after ready() from an empty DENO_DIR, then offline from the cache without ready()",
  async () => {
    await using c = await freshCase();
    await using server = serveRepo();
    await Deno.writeTextFile(
      `${c.work}/version.ts`,
      `import * as bpfx from "${server.url}mod.ts";
if (Deno.args[0] === "ready") await bpfx.ready();
console.log(JSON.stringify(bpfx.version()));
console.log(JSON.stringify(bpfx.libraryLocation()));
`,
    );
    const lib =
      `${c.denoDir}/bpfx/${manifest.version}/${entry?.sha256}/libbpfx_core.so`;
    const check = (o: Output, label: string) => {
      assert.equal(o.code, 0, dump(label, o));
      const [v, where] = o.stdout.trimEnd().split("\n");
      assert.deepEqual(JSON.parse(v ?? ""), version(), label);
      assert.deepEqual(
        JSON.parse(where ?? ""),
        { path: lib, source: "cache" },
        label,
      );
    };
    check(await c.deno(["run", "-A", "version.ts", "ready"]), "first run");
    await assertCached(c, server);

    // Offline, and with no ready(): the cached library opens synchronously.
    await server.stop();
    check(
      await c.deno(["run", "-A", "--cached-only", "version.ts"]),
      "offline run",
    );
    await assertCached(c, server);
  },
);

Deno.test(
  "a manifest whose sha256 does not match is refused, naming the URL, and nothing is cached",
  async () => {
    assert.ok(entry, `dist/manifest.json lists no library for ${TARGET}`);
    // Another sha256: the first hex digit changed.
    const wrong = (entry.sha256[0] === "0" ? "1" : "0") +
      entry.sha256.slice(1);
    const text = await Deno.readTextFile(`${ROOT}${MANIFEST_PATH}`);
    assert.ok(text.includes(entry.sha256));
    await using c = await freshCase();
    await using server = serveRepo({
      [MANIFEST_PATH]: text.replace(entry.sha256, wrong),
    });
    const libUrl = `${server.url}${LIBRARY_PATH.slice(1)}`;
    const o = await c.deno([
      "run",
      "-A",
      `${server.url}cli.ts`,
      "inspect",
      HELLO,
      "--json",
    ]);
    assert.equal(o.code, 1, dump("bad sha256", o));
    const e = errorOf(o, "bad sha256");
    assert.deepEqual([e["kind"], e["op"], e["path"]], [
      "invalid",
      "sha256",
      libUrl,
    ]);
    const message =
      `Cannot use "${libUrl}": its sha256 is ${entry.sha256}, the manifest says ${wrong}`;
    assert.equal(e["message"], message);
    assert.match(String(e["hint"]), /nothing was cached/);
    assert.ok(o.stderr.split("\n").includes(`error: ${message}`), o.stderr);
    noStack(o.stderr, "bad sha256");
    assert.ok(server.requests.includes(LIBRARY_PATH), "fetched the core");
    assert.deepEqual(await files(`${c.denoDir}/bpfx`), [], "nothing cached");
  },
);

Deno.test(
  "a library or manifest missing on the server (404) is reported naming the URL",
  async () => {
    for (const missing of [LIBRARY_PATH, MANIFEST_PATH]) {
      await using c = await freshCase();
      await using server = serveRepo({ [missing]: null });
      const url = `${server.url}${missing.slice(1)}`;
      const o = await c.deno([
        "run",
        "-A",
        `${server.url}cli.ts`,
        "inspect",
        HELLO,
        "--json",
      ]);
      const label = `404 ${missing}`;
      assert.equal(o.code, 1, dump(label, o));
      const e = errorOf(o, label);
      assert.deepEqual([e["kind"], e["op"], e["path"]], [
        "not-found",
        "fetch",
        url,
      ], label);
      const message = `Cannot fetch "${url}": HTTP 404`;
      assert.equal(e["message"], message, label);
      assert.ok(o.stderr.split("\n").includes(`error: ${message}`), o.stderr);
      assert.match(o.stderr, /\n {2}hint: .*BPFX_LIB/, label);
      noStack(o.stderr, label);
      assert.ok(server.requests.includes(missing), `${label}: requested`);
      assert.deepEqual(await files(`${c.denoDir}/bpfx`), [], label);
    }
  },
);

/** The `deno run` flags that docs/api.md's "Import by URL" lists. */
async function documentedFlags(): Promise<string[]> {
  const text = await Deno.readTextFile(`${ROOT}/docs/api.md`);
  const section = text.slice(text.indexOf("## Import by URL"));
  const line = section.split("\n").find((l) => l.startsWith("deno run --"));
  assert.ok(line, "docs/api.md's Import by URL shows no `deno run` line");
  return line.split(" ").filter((w) => w.startsWith("--allow-"));
}

/** A script that imports mod.ts from `server` and reports each step. */
async function writeSteps(c: Case, server: Server): Promise<void> {
  await Deno.writeTextFile(
    `${c.work}/steps.ts`,
    `import * as bpfx from "${server.url}mod.ts";
const report = (step: string, e: unknown) =>
  console.log(JSON.stringify({
    step,
    bpf: bpfx.isBpfError(e),
    message: e instanceof Error ? e.message : String(e),
    hint: bpfx.isBpfError(e) ? e.hint : undefined,
  }));
console.log(JSON.stringify({ step: "imported" }));
try {
  bpfx.version();
  console.log(JSON.stringify({ step: "early call", ok: true }));
} catch (e) {
  report("early call", e);
}
try {
  await bpfx.ready();
  console.log(JSON.stringify({ step: "ready", ok: true }));
} catch (e) {
  report("ready", e);
}
try {
  console.log(JSON.stringify({ step: "call", ok: true, value: bpfx.version() }));
} catch (e) {
  report("call", e);
}
`,
  );
}

/** The steps `steps.ts` printed, by name. */
function steps(
  o: Output,
  label: string,
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const line of o.stdout.trimEnd().split("\n")) {
    if (line === "") continue;
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(line);
    } catch {
      assert.fail(`${label}: not JSON: ${line}\n${dump(label, o)}`);
    }
    out[String(doc["step"])] = doc;
  }
  return out;
}

Deno.test(
  "mod.ts by URL runs from an empty DENO_DIR with exactly the permissions docs/api.md lists",
  async () => {
    const flags = await documentedFlags();
    await using c = await freshCase();
    await using server = serveRepo();
    await writeSteps(c, server);
    const o = await c.deno(["run", ...flags, "steps.ts"]);
    assert.equal(o.code, 0, dump("documented flags", o));
    const s = steps(o, "documented flags");
    assert.equal(s["ready"]?.["ok"], true, dump("documented flags", o));
    assert.deepEqual(s["call"]?.["value"], version());
    await assertCached(c, server);
  },
);

Deno.test(
  "mod.ts by URL imports even when the download fails: a call before ready() says to await it, ready() rejects with the download's error, and later calls throw it",
  async () => {
    await using c = await freshCase();
    await using server = serveRepo({ [MANIFEST_PATH]: null });
    await writeSteps(c, server);
    const o = await c.deno(["run", "-A", "steps.ts"]);
    const label = "404 manifest";
    assert.equal(o.code, 0, dump(label, o));
    const s = steps(o, label);
    assert.ok(s["imported"], dump(label, o));
    const early = s["early call"];
    assert.equal(early?.["bpf"], true, dump(label, o));
    assert.match(String(early?.["message"]), /not downloaded yet/);
    assert.match(String(early?.["hint"]), /await ready\(\)/);
    assert.equal(
      server.requests.filter((p) => p === MANIFEST_PATH).length,
      1,
      "ready() fetched the manifest once",
    );
    const url = `${server.url}${MANIFEST_PATH.slice(1)}`;
    const message = `Cannot fetch "${url}": HTTP 404`;
    assert.deepEqual(
      [s["ready"]?.["bpf"], s["ready"]?.["message"]],
      [true, message],
      dump(label, o),
    );
    assert.deepEqual(
      [s["call"]?.["bpf"], s["call"]?.["message"]],
      [true, message],
      dump(label, o),
    );
    assert.deepEqual(await files(`${c.denoDir}/bpfx`), [], label);
  },
);

Deno.test(
  "mod.ts by URL without --allow-env names the permission to add, with DENO_DIR, XDG_CACHE_HOME and HOME all set",
  async () => {
    await using c = await freshCase({ HOME: "/root", XDG_CACHE_HOME: "/tmp" });
    await using server = serveRepo();
    await writeSteps(c, server);
    const flags = (await documentedFlags()).filter((f) =>
      !f.startsWith("--allow-env")
    );
    const o = await c.deno(["run", ...flags, "steps.ts"]);
    const label = "no --allow-env";
    assert.equal(o.code, 0, dump(label, o));
    const s = steps(o, label);
    const r = s["ready"];
    assert.equal(r?.["bpf"], true, dump(label, o));
    assert.equal(
      r?.["message"],
      "Cannot find a cache directory for the bpfx core: reading DENO_DIR, XDG_CACHE_HOME, HOME is not allowed",
    );
    assert.match(
      String(r?.["hint"]),
      /--allow-env=DENO_DIR,XDG_CACHE_HOME,HOME/,
    );
    assert.ok(!/is set/.test(String(r?.["message"])), String(r?.["message"]));
    assert.equal(s["call"]?.["message"], r?.["message"], dump(label, o));
    assert.deepEqual(await files(`${c.denoDir}/bpfx`), [], label);
  },
);
