// The TypeScript examples of the README and of every docs/*.md page
// type-check against mod.ts, their relative links and anchors resolve, and
// the examples that say so run.
import { assert } from "./_assert.ts";
import { cgroup2Mount, kernelTest, ROOT, run, tempDir } from "./_kernel.ts";
import {
  anchors,
  brokenLinks,
  commandsOf,
  examples,
  links,
  localize,
  namedFiles,
  pages,
  relativeImports,
  runsBpfx,
  shellBlocks,
  slug,
} from "./_markdown.ts";

const DENO = `${ROOT}/node_modules/.bin/deno`;

/** A page's file URL, for its relative imports and links. */
function pageUrl(page: string): URL {
  return new URL(page, `file://${ROOT}/`);
}

/** Each page (README.md, docs/*.md) with its text. */
async function texts(): Promise<[string, string][]> {
  return await Promise.all(
    pages(ROOT).map(async (p): Promise<[string, string]> => [
      p,
      await Deno.readTextFile(`${ROOT}/${p}`),
    ]),
  );
}

Deno.test("README and docs/ TypeScript examples type-check against mod.ts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfxreadme-" });
  try {
    const files: string[] = [];
    const where = new Map<string, string>();
    const mod = pageUrl("mod.ts").href;
    for (const [page, text] of await texts()) {
      for (const [i, block] of examples(text).entries()) {
        // Each relative import, as written, resolves from the page to a file
        // of the checkout; and every example imports the local mod.ts.
        const resolved = relativeImports(block).map((s) =>
          new URL(s, pageUrl(page))
        );
        for (const [j, url] of resolved.entries()) {
          let found = true;
          try {
            Deno.statSync(url);
          } catch {
            found = false;
          }
          assert.ok(
            found,
            `${page}, example ${i}: "${
              relativeImports(block)[j]
            }" resolves to ${url.pathname}, which does not exist`,
          );
        }
        assert.ok(
          resolved.some((u) => u.href === mod),
          `${page}, example ${i} does not import the local mod.ts`,
        );
        const file = `${dir}/${page.replaceAll("/", "_")}_${i}.ts`;
        await Deno.writeTextFile(file, localize(block, pageUrl(page)));
        where.set(file, `${page}, example ${i}`);
        files.push(file);
      }
    }
    assert.ok(
      files.length >= 2,
      `expected at least two examples, found ${files.length}`,
    );
    const out = await new Deno.Command(DENO, {
      args: ["check", `--config=${ROOT}/deno.json`, ...files],
      stdout: "piped",
      stderr: "piped",
    }).output();
    let text = new TextDecoder().decode(out.stderr);
    for (const [file, name] of where) {
      text = text.replaceAll(`file://${file}`, name).replaceAll(file, name);
    }
    assert.equal(
      out.code,
      0,
      `deno check of the README's and docs/ examples failed:\n${text}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples() finds only blocks importing mod.ts", () => {
  const md =
    'x\n```ts\nimport { a } from "./mod.ts";\n```\n```ts\nconst b = 1;\n```\n';
  assert.deepEqual(examples(md), ['import { a } from "./mod.ts";\n']);
  // A page under docs/: its blocks' imports resolve from the page.
  const docs = '```ts\nimport { a } from "../mod.ts";\nimport "./x.ts";\n```\n';
  const [block] = examples(docs);
  assert.ok(block !== undefined, "no example found");
  assert.deepEqual(relativeImports(block), ["../mod.ts", "./x.ts"]);
  assert.equal(
    localize(block, new URL("file:///r/docs/api.md")),
    'import { a } from "file:///r/mod.ts";\nimport "file:///r/docs/x.ts";\n',
  );
  // As written in the README, "./mod.ts" from docs/ is docs/mod.ts.
  assert.equal(
    localize('from "./mod.ts"', new URL("file:///r/docs/api.md")),
    'from "file:///r/docs/mod.ts"',
  );
});

/** The one page whose text includes `marker`, and its text. */
async function pageWith(marker: string): Promise<[string, string]> {
  const found = (await texts()).filter(([, t]) => t.includes(marker));
  assert.equal(
    found.length,
    1,
    `pages with "${marker}": ${found.map(([p]) => p).join(", ")}`,
  );
  return found[0]!;
}

Deno.test("the docs' error example runs and handles a missing object as a BpfError", async () => {
  const found = (await texts()).flatMap(([page, text]) =>
    examples(text).filter((b) => b.includes("VerifierError")).map((
      b,
    ): [string, string] => [page, b])
  );
  assert.equal(found.length, 1, "one error example in the README or docs/");
  const [page, block] = found[0]!;
  const dir = await Deno.makeTempDir({ prefix: "bpfxreadme-" });
  try {
    const file = `${dir}/errors.ts`;
    await Deno.writeTextFile(file, localize(block, pageUrl(page)));
    // Run where "bad.o" does not exist: load() throws a not-found error,
    // which the example must catch as a BpfError (not rethrow, not miss).
    const out = await new Deno.Command(DENO, {
      args: ["run", "-A", "--no-check", `--config=${ROOT}/deno.json`, file],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `the example failed:\n${stderr}`);
    const lines = stdout.trimEnd().split("\n");
    assert.equal(lines.length, 2, `two lines expected:\n${stdout}`);
    // The map: no pin there (NotFound), or not a bpffs (a BpfError message).
    assert.ok(lines[0]!.length > 0);
    assert.match(
      lines[1]!,
      /^not-found \S+ 2 /,
      `the load's error:\n${stdout}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The ```sh block of a page that follows `marker`. */
function shBlockAfter(markdown: string, marker: string): string {
  const at = markdown.indexOf(marker);
  assert.ok(at >= 0, `no "${marker}" in the page`);
  const m = markdown.slice(at).match(/```sh\n([\s\S]*?)```/);
  assert.ok(m !== null, `no sh block after "${marker}"`);
  return m[1]!;
}

kernelTest(
  "the docs' map commands run as written, on a bpffs at /sys/fs/bpf of their own",
  async () => {
    const [, text] = await pageWith("runs this block as written");
    const block = shBlockAfter(text, "runs this block as written");
    const lines = block.trim().split("\n");
    assert.ok(lines.length >= 8, block);
    assert.ok(lines.every((l) => l.startsWith("bpfx ")), block);
    // Each line as written, `bpfx` being the checkout's launcher, in a mount
    // namespace of its own with a fresh bpffs on /sys/fs/bpf: the host's
    // /sys/fs/bpf is not touched.
    const script = [
      "set -e",
      "mount -t bpf bpf /sys/fs/bpf",
      `bpfx() { "${ROOT}/bpfx" "$@"; }`,
      ...lines.map((l) => `echo "+ ${l.replaceAll('"', '\\"')}"; ${l}`),
    ].join("\n");
    const out = await new Deno.Command("unshare", {
      args: ["-m", "--propagation", "private", "bash", "-c", script],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `${stdout}\n${stderr}`);
    assert.match(stdout, /key +42\nvalue +7\n/, stdout);
    assert.match(stdout, /"formatted":\{"key":42,"value":7\}/, stdout);
    assert.match(
      stdout,
      /\+ bpfx map pop [^\n]*\nvalue +07 00 00 00 00 00 00 00\n/,
    );
  },
  { needs: ["iterator task"] },
);

Deno.test("README.md and docs/*.md: every relative link and anchor resolves", () => {
  const files = pages(ROOT);
  assert.ok(files.length >= 2, `pages: ${files.join(", ")}`);
  assert.deepEqual(brokenLinks(ROOT, files), []);
  // Every page under docs/ is linked from the README.
  const readme = Deno.readTextFileSync(`${ROOT}/README.md`);
  const linked = new Set(links(readme).map((l) => l.target.split("#")[0]));
  for (const page of files.filter((p) => p.startsWith("docs/"))) {
    assert.ok(linked.has(page), `${page} is not linked from README.md`);
  }
});

Deno.test("brokenLinks() finds a missing page, a missing anchor, and no link in code", () => {
  const dir = Deno.makeTempDirSync({ prefix: "bpfxlinks-" });
  try {
    Deno.mkdirSync(`${dir}/docs`);
    Deno.writeTextFileSync(
      `${dir}/README.md`,
      [
        "# Top",
        "## What `load` loads: `?` sections, `--only`",
        "See [a](docs/a.md#the-a_page), [b](docs/b.md), [c](#top),",
        "[d](#what-load-loads--sections---only), [e](#nowhere),",
        "[f](https://example.org/#x), and `[g](docs/none.md)`.",
        "```md",
        "[h](docs/none.md)",
        "```",
        "[i]: docs/a.md#nothing",
      ].join("\n"),
    );
    Deno.writeTextFileSync(
      `${dir}/docs/a.md`,
      "# The a_page\n\n[up](../README.md#top) [x](x.md)\n",
    );
    assert.deepEqual(brokenLinks(dir, ["README.md", "docs/a.md"]), [
      "README.md:3: docs/b.md: no such file " + `${dir}/docs/b.md`,
      "README.md:4: #nowhere: " +
      `no heading or id "nowhere" in ${dir}/README.md`,
      "README.md:9: docs/a.md#nothing: " +
      `no heading or id "nothing" in ${dir}/docs/a.md`,
      "docs/a.md:3: x.md: no such file " + `${dir}/docs/x.md`,
    ]);
    assert.equal(
      slug("Expose and watch: pins outside bpffs, kept true"),
      "expose-and-watch-pins-outside-bpffs-kept-true",
    );
    assert.deepEqual(
      [...anchors("# A\n## A\n```\n# B\n```\n")],
      ["a", "a-1"],
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// The shell examples: every ```sh and ```console block of README.md and
// docs/*.md that runs bpfx is run here, or listed below with why not.

/**
 * The examples that cannot run in a test, by page and first command, and
 * why. A block that runs bpfx and is neither run nor listed fails the test,
 * as does an entry here that names no block.
 */
const NOT_RUN: Readonly<Record<string, string>> = {
  "README.md: bpfx serve --config host.yaml # listens on 127.0.0.1:9445":
    "serves until stopped (tests/metrics_prometheus_test.ts runs it with a real Prometheus)",
  "docs/metrics.md: bpfx serve --config host.yaml --listen 127.0.0.1:9445":
    "serves until stopped, over pins the page does not make (tests/metrics_prometheus_test.ts runs it with a real Prometheus)",
  "README.md: bpfx doctor [--fix]                 # what this host offers; --fix mounts bpffs":
    "a synopsis of the commands, with placeholders (OBJ, PIN, DIR)",
  "docs/api.md: deno run --allow-import --allow-ffi --allow-env --allow-read --allow-write --allow-net app.ts":
    "imports bpfx by URL from a server; tests/url_test.ts serves the checkout and runs it so",
  "docs/attach.md: bpfx load build/tests/links.bpf.o --pin /sys/fs/bpf/app":
    "needs an eth0 and tracefs (tests/links_test.ts attaches each link type in a network namespace of its own)",
  "docs/attach.md: bpfx load build/tests/cgroup_progs.bpf.o --pin /sys/fs/bpf/app":
    "needs a machine.slice with web-* containers' cgroups (tests/cgroup_links_test.ts makes its own subtree)",
  "docs/containers.md: bpfx rule add build/examples/cgstat.bpf.o:cgstat --cgroup-root machine.slice \\\n    --pin-root /sys/fs/bpf/cgstat --expose-root /run/bpfx/cgroups --name stat \\\n    --into-containers /run/bpfx/stat":
    "a container started under machine.slice while bpfx watch runs (tests/containers_test.ts does it with its own)",
  "docs/expose-and-watch.md: bpfx expose /sys/fs/bpf/tasks /srv/app/tasks":
    "a running watcher's log, over the pins and the demo rule of the page before it",
  "docs/views.md: bpfx rule add build/examples/cgstat.bpf.o:cgstat --cgroup-root demo \\\n    --pin-root /sys/fs/bpf/views --expose-root /run/bpfx/views --name cgstat":
    "over a demo subtree of cgroups the page does not make (the README's tour runs the same rule over its own)",
};

/** A page's example, named as {@linkcode NOT_RUN} names it. */
function exampleKey(page: string, commands: readonly string[]): string {
  return `${page}: ${commands[0] ?? ""}`;
}

/** What a page's run needs besides a private bpffs, /run and state. */
interface PageRun {
  /** Words made unique to the run (cgroups, containers): regex, name. */
  renames: readonly [RegExp, string][];
  /** Shell run on exit, whatever happened. */
  cleanup: string;
  /** What the run must print (from the page's own examples). */
  expect: readonly RegExp[];
}

const TAG = `${Deno.pid}x${crypto.randomUUID().slice(0, 6)}`;

/** The pages whose examples run, and what each needs. */
const RUNS: Readonly<Record<string, PageRun>> = {
  "README.md": {
    renames: [[/\btour\b(?!\.ts)/g, `tour${TAG}`]],
    cleanup:
      `find "$CG/tour${TAG}" -depth -type d -exec rmdir {} + 2>/dev/null`,
    expect: [
      /^level=2\nname=web$/m,
      /^prog \d+ .*\/hello\/count_exec$/m,
      /^keep +rule +cgstat: 5 cgroups attached\nkeep +exposure all: exposed \(symlink\)\nnothing to do$/m,
      /^name=frontend\nname=backend\nname=batch$/m,
      /^remove +object +cgstat: no longer in the file\n6 changed$/m,
    ],
  },
  "docs/containers.md": {
    renames: [[/\bweb\b/g, `web${TAG}`]],
    cleanup: `runc delete -f web${TAG} 2>/dev/null`,
    expect: [/^ +\d+ +\d+ +\d+ sleep$/m, /^\/run\/bpfx\/tasks +bind .* ok /m],
  },
  "docs/load.md": {
    renames: [],
    cleanup: "true",
    expect: [/^retval +14 \(0xe\)$/m, /bpf_task_acquire +ksym-func +no +yes/],
  },
  "docs/views.md": {
    renames: [],
    cleanup: "true",
    expect: [/^id=1\nlevel=0\n/m],
  },
  "docs/maps.md": {
    renames: [],
    cleanup: "true",
    expect: [/^key +42\nvalue +7$/m],
  },
};

/** `text` with the run's paths and names: /tmp/ is the test's own. */
function localized(
  text: string,
  run: PageRun,
  tmp: string,
  cgroup2: string,
): string {
  let out = text.replaceAll("/tmp/", `${tmp}/`)
    .replaceAll("/sys/fs/cgroup/unified", cgroup2);
  for (const [re, name] of run.renames) out = out.replace(re, name);
  return out;
}

/** Each page's shell examples that run bpfx, with their commands. */
async function shellExamples(): Promise<
  { page: string; text: string; commands: string[] }[]
> {
  return (await texts()).flatMap(([page, text]) =>
    shellBlocks(text).map((b) => ({ page, text, commands: commandsOf(b) }))
      .filter((e) => e.commands.some(runsBpfx))
  );
}

Deno.test("every shell example of README.md and docs/*.md that runs bpfx is run by a test here, or listed with why not", async () => {
  const found = await shellExamples();
  const keys = new Set(found.map((e) => exampleKey(e.page, e.commands)));
  const unlisted = found.filter((e) =>
    RUNS[e.page] === undefined &&
    NOT_RUN[exampleKey(e.page, e.commands)] === undefined
  ).map((e) => exampleKey(e.page, e.commands));
  assert.deepEqual(unlisted, [], "examples neither run nor listed in NOT_RUN");
  const stale = Object.keys(NOT_RUN).filter((k) => !keys.has(k));
  assert.deepEqual(stale, [], "NOT_RUN entries that name no example");
  for (const [k, why] of Object.entries(NOT_RUN)) {
    assert.ok(why.length > 0, `NOT_RUN gives no reason for ${k}`);
  }
});

for (const [page, pageRun] of Object.entries(RUNS)) {
  kernelTest(
    `${page}: its shell examples run in order, in a private bpffs, /run and state directory`,
    async () => {
      const all = (await texts()).find(([p]) => p === page);
      assert.ok(all !== undefined, `no page ${page}`);
      const [, markdown] = all;
      const blocks = shellBlocks(markdown).map(commandsOf).filter((c) =>
        c.some(runsBpfx) || c.some((x) => /^(runc|umount|rmdir|mkdir) /.test(x))
      ).filter((c) => NOT_RUN[exampleKey(page, c)] === undefined);
      assert.ok(blocks.length > 0, `${page} has no example to run`);
      await using tmp = await tempDir("bpfxexamples-");
      const cgroup2 = await cgroup2Mount();
      // A script a block runs (`deno run ... tour.ts`) is the page's ```ts
      // block whose first line names it, written to the run's /tmp.
      const scripts: string[] = [];
      for (const block of examples(markdown)) {
        const name = block.split("\n")[0]?.match(/\s(\w+\.ts)$/)?.[1];
        if (name === undefined) continue;
        await Deno.writeTextFile(
          `${tmp.path}/${name}`,
          localize(localized(block, pageRun, tmp.path, cgroup2), pageUrl(page)),
        );
        scripts.push(name);
      }
      // A file a block reads (`bpfx apply host.yaml`) is the page's ```yaml
      // block whose first line names it, written to the run's /tmp, where
      // build/ is the checkout's: its relative paths resolve as on the page.
      for (const [name, text] of namedFiles(markdown)) {
        await Deno.writeTextFile(
          `${tmp.path}/${name}`,
          localized(text, pageRun, tmp.path, cgroup2),
        );
        scripts.push(name);
      }
      if (scripts.some((s) => !s.endsWith(".ts"))) {
        await Deno.symlink(`${ROOT}/build`, `${tmp.path}/build`);
      }
      const commands = blocks.flat().map((c) => {
        let out = localized(c, pageRun, tmp.path, cgroup2);
        for (const s of scripts) {
          out = out.replace(
            new RegExp(`(\\s)${s.replace(".", "\\.")}\\b`, "g"),
            `$1${tmp.path}/${s}`,
          );
        }
        return out;
      });
      await Deno.mkdir(`${tmp.path}/state`);
      const script = [
        "set -e",
        `CG='${cgroup2}'`,
        `trap '${pageRun.cleanup.replaceAll("'", "'\\''")} || true' EXIT`,
        // Private to this namespace: the host's /sys/fs/bpf and /run (its
        // /run/bpfx, runc's state) are not touched.
        "mount -t bpf bpf /sys/fs/bpf",
        "mount -t tmpfs tmpfs /run",
        `export BPFX_STATE='${tmp.path}/state'`,
        `bpfx() { '${ROOT}/bpfx' "$@"; }`,
        `deno() { '${DENO}' "$@"; }`,
        `cd '${ROOT}'`,
        ...commands.flatMap((c) => [
          `echo "+ ${c.split("\n")[0]!.replace(/["\\$`]/g, "\\$&")}"`,
          c,
        ]),
      ].join("\n");
      await Deno.writeTextFile(`${tmp.path}/examples.sh`, script);
      const out = await run("unshare", [
        "-m",
        "--propagation",
        "private",
        "bash",
        `${tmp.path}/examples.sh`,
      ]);
      assert.equal(
        out.code,
        0,
        `${page}'s examples failed:\n${out.stdout}\n${out.stderr}`,
      );
      for (const re of pageRun.expect) {
        assert.match(out.stdout, re, `${page}: ${out.stdout}`);
      }
    },
    {
      needs: [
        "iterator task",
        "iterator task parameters",
        "iterator cgroup",
        "iterator cgroup parameters",
        "cgroup2",
        "mount namespaces",
      ],
    },
  );
}

Deno.test("commandsOf() takes a console block's $ lines and a sh block's lines, with their continuations", () => {
  const [console, sh] = shellBlocks(
    "```console\n$ bpfx a \\\n    --b c\nout\n$ ls\n```\n" +
      "```sh\n# a comment\nbpfx x   # y\n\nmkdir d && bpfx z\n```\n",
  );
  assert.ok(console !== undefined && sh !== undefined);
  assert.deepEqual(commandsOf(console), ["bpfx a \\\n    --b c", "ls"]);
  assert.deepEqual(commandsOf(sh), ["bpfx x   # y", "mkdir d && bpfx z"]);
  assert.deepEqual(
    [
      "bpfx ls",
      "mkdir d && bpfx z",
      'x "$(bpfx y)"',
      "ls bpfx",
      "deno run a.ts",
    ]
      .map(runsBpfx),
    [true, true, true, false, true],
  );
});
