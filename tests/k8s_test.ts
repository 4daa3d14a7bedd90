// The OCI image and the Kubernetes manifests of contrib/k8s/
// (docs/kubernetes.md), for real:
// - every manifest decodes strictly into the official API types (the Go
//   checker build/tests/k8s_check, on k8s.io/api), and a typo'd field or a
//   mistyped value is refused;
// - the image `make image` built is the one the DaemonSet names, and runs
//   what the launcher runs;
// - the DaemonSet's own pod template, read from the manifest file, is
//   played with Debian's `podman kube play` (Podman 4.3 takes no DaemonSet)
//   as a Pod, with the ConfigMap's file laid out as the kubelet lays it out,
//   on the host's kernel: its objects, views, links and mirror are on the
//   host, and a second pod, as in a rolling update, makes nothing twice.
//
// The played copy differs from the template only in what a test must not
// share with the host: each hostPath is a directory of the test's own (its
// bpffs, cgroup subtree, state directory and mirror), never the host's
// /sys/fs/bpf or /run/bpfx; the ConfigMap volume is a hostPath of the
// test's own in the kubelet's layout, so the test can swap in a new version
// as the kubelet does; the ports and probes go, since Podman 4.3 refuses
// ports with host networking and would run probes with a curl the image
// does not have (the test asks /healthz itself, as the kubelet would); and
// hostPID, which Podman 4.3 does not take, is dropped. Podman runs with a
// containers.conf of the test's own (lower rlimits: ../shared/KERNEL-NOTES).
// Every pod is removed with `podman pod rm -f` in finally.
import { parse } from "yaml";
import {
  assert,
  bpftoolJson,
  eventually,
  exists,
  kernelTest,
  privateBpffs,
  privateCgroups,
  ROOT,
  run,
  sleep,
  tempDir,
} from "./_kernel.ts";

const K8S = `${ROOT}/contrib/k8s`;
const CHECK = `${ROOT}/build/tests/k8s_check`;
const VERSION = /^\[package\][^[]*?^version\s*=\s*"([^"]+)"/m.exec(
  await Deno.readTextFile(`${ROOT}/core-rs/Cargo.toml`),
)?.[1];
const IMAGE = `localhost/bpfx:${VERSION}`;
/** The path of the desired-state file in the pod (the ConfigMap's volume). */
const CONFIG = "/etc/bpfx/bpfx.yaml";

const NEEDS = [
  "cgroup2",
  "iterator task",
  "iterator task parameters",
  "iterator cgroup",
  "iterator cgroup parameters",
  "fanotify bpffs",
  "fanotify cgroupfs",
] as const;

type Obj = Record<string, unknown>;

function contains(text: string, part: string, what?: string): void {
  assert.ok(
    text.includes(part),
    `${what ? `${what}: ` : ""}expected ${JSON.stringify(part)} in ${
      JSON.stringify(text)
    }`,
  );
}

function obj(value: unknown, what: string): Obj {
  assert.ok(
    typeof value === "object" && value !== null && !Array.isArray(value),
    `${what} is not an object`,
  );
  return value as Obj;
}

function list(value: unknown, what: string): Obj[] {
  assert.ok(Array.isArray(value), `${what} is not a list`);
  return (value as unknown[]).map((v, i) => obj(v, `${what}[${i}]`));
}

async function manifest(file: string): Promise<Obj> {
  return obj(parse(await Deno.readTextFile(`${K8S}/${file}`)), file);
}

async function manifestFiles(): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(K8S)) {
    if (e.isFile && e.name.endsWith(".yaml")) files.push(`${K8S}/${e.name}`);
  }
  return files.sort();
}

/** The DaemonSet's pod template, from the manifest file. */
async function podTemplate(): Promise<{ metadata: Obj; spec: Obj }> {
  const ds = await manifest("daemonset.yaml");
  const template = obj(obj(ds.spec, "spec").template, "spec.template");
  return {
    metadata: obj(template.metadata, "template.metadata"),
    spec: obj(template.spec, "template.spec"),
  };
}

/** The ConfigMap's desired-state file. */
async function configMapFile(): Promise<string> {
  const cm = await manifest("configmap.yaml");
  const text = obj(cm.data, "data")["bpfx.yaml"];
  assert.equal(typeof text, "string", "the ConfigMap has no bpfx.yaml");
  return text as string;
}

// ---------------------------------------------------------------------------
// The checker

Deno.test("k8s_check decodes every manifest of contrib/k8s strictly", async () => {
  const files = await manifestFiles();
  assert.ok(files.length >= 5, `only ${files.length} manifests`);
  const r = await run(CHECK, files);
  assert.equal(
    r.code,
    0,
    `${r.stdout}${r.stderr} (run make build/tests/k8s_check)`,
  );
  const kinds = r.stdout.split("\n").filter((l) => l !== "").map((l) =>
    l.split(": ")[1]?.split(" ")[0]
  ).sort();
  assert.deepEqual(kinds, [
    "ConfigMap",
    "DaemonSet",
    "Kustomization",
    "Namespace",
    "ServiceAccount",
  ]);
});

Deno.test("k8s_check refuses an unknown field, a mistyped value and an unknown kind", async () => {
  await using dir = await tempDir("bpfxk8s-");
  const ds = await Deno.readTextFile(`${K8S}/daemonset.yaml`);
  const cases: [string, string, string][] = [
    [
      "typo",
      ds.replace("readOnlyRootFilesystem:", "readOnlyRootFilesytem:"),
      'unknown field "readOnlyRootFilesytem"',
    ],
    [
      "type",
      ds.replace(
        "terminationGracePeriodSeconds: 30",
        'terminationGracePeriodSeconds: "thirty"',
      ),
      "terminationGracePeriodSeconds of type int64",
    ],
    [
      "kind",
      ds.replace("kind: DaemonSet", "kind: DaemonSett"),
      'unknown apiVersion "apps/v1" and kind "DaemonSett"',
    ],
  ];
  for (const [name, text, expected] of cases) {
    assert.ok(text !== ds, `case ${name} changed nothing`);
    const file = `${dir.path}/${name}.yaml`;
    await Deno.writeTextFile(file, text);
    const r = await run(CHECK, [file]);
    assert.equal(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
    contains(r.stderr, expected, name);
  }
});

// ---------------------------------------------------------------------------
// The image

interface ImageConfig {
  Entrypoint: string[];
  Cmd: string[];
  Labels: Record<string, string>;
}

async function imageConfig(): Promise<ImageConfig> {
  const r = await run("podman", [
    "image",
    "inspect",
    "--format",
    "{{json .Config}}",
    IMAGE,
  ]);
  assert.equal(
    r.code,
    0,
    `${IMAGE} is not there (run make image): ${r.stderr}`,
  );
  return JSON.parse(r.stdout) as ImageConfig;
}

Deno.test("make image's image is the DaemonSet's, runs the launcher's command and the DaemonSet's args", async () => {
  await using _cgroups = podmanCgroups();
  assert.ok(VERSION !== undefined, "no version in core-rs/Cargo.toml");
  const { spec, metadata } = await podTemplate();
  const [container] = list(spec.containers, "containers");
  assert.equal(container?.image, IMAGE);
  const config = await imageConfig();
  // The launcher's own deno command line, with the installed paths.
  const launcher = await Deno.readTextFile(`${ROOT}/bpfx`);
  for (const flag of config.Entrypoint.slice(2, -1)) {
    const asWritten = flag.replace(`/usr/lib/bpfx/${VERSION}`, '"$dir"')
      .replace('="$dir"/deno.json', '="$dir/deno.json"');
    contains(launcher, asWritten, `${flag} is not the launcher's`);
  }
  assert.deepEqual(config.Entrypoint.slice(0, 2), [
    `/usr/lib/bpfx/${VERSION}/node_modules/deno/deno`,
    "run",
  ]);
  assert.equal(config.Entrypoint.at(-1), `/usr/lib/bpfx/${VERSION}/cli.ts`);
  assert.deepEqual(
    config.Cmd,
    container?.args,
    "the image's CMD is not the DaemonSet's args",
  );
  const port = String(config.Cmd.at(-1)).split(":").at(-1);
  const ports = list(container?.ports, "ports");
  assert.equal(String(ports[0]?.containerPort), port);
  assert.equal(
    obj(metadata.annotations, "annotations")["prometheus.io/port"],
    port,
  );
  for (const key of ["title", "version", "licenses", "created", "revision"]) {
    assert.ok(
      config.Labels[`org.opencontainers.image.${key}`],
      `no label org.opencontainers.image.${key}`,
    );
  }
  assert.equal(config.Labels["org.opencontainers.image.version"], VERSION);
  const r = await podman([
    "run",
    "--rm",
    "--read-only",
    "--network=none",
    IMAGE,
    "--version",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), VERSION);
});

// ---------------------------------------------------------------------------
// The pod

// Podman with the cgroupfs manager (no systemd here) makes a cgroup for
// each pod, below a `libpod_parent` it makes in each hierarchy, and
// `podman pod rm` leaves them. The test removes its pods' cgroups, and the
// `libpod_parent` directories that were not there before it (once empty),
// so that the host's cgroup trees are as they were.

/** The `libpod_parent` directories podman may make, in each hierarchy. */
function podmanParents(): string[] {
  const out = ["/sys/fs/cgroup/libpod_parent"];
  for (const e of Deno.readDirSync("/sys/fs/cgroup")) {
    if (e.isDirectory) out.push(`/sys/fs/cgroup/${e.name}/libpod_parent`);
  }
  return out;
}

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const PARENTS_BEFORE = new Set(podmanParents().filter(existsSync));

/** Removes a cgroup directory and those below it, deepest first. */
async function removeCgroupTree(dir: string): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  for (const e of entries) {
    if (e.isDirectory) await removeCgroupTree(`${dir}/${e.name}`);
  }
  await Deno.remove(dir);
}

/** Removes the cgroups podman made for pod `id` (a 64-digit hex id). */
async function removePodCgroups(id: string): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(id)) return;
  for (const parent of podmanParents()) {
    await removeCgroupTree(`${parent}/${id}`);
  }
}

/**
 * Disposed at the end of each test that runs podman: removes the
 * `libpod_parent` directories that were not there before, and what podman
 * left in them (the cgroups of its pods and of conmon, empty by then).
 */
function podmanCgroups(): AsyncDisposable {
  return {
    async [Symbol.asyncDispose]() {
      for (const parent of podmanParents()) {
        if (PARENTS_BEFORE.has(parent)) continue;
        // Its pods' cgroups and conmon's; a cgroup still in use stays.
        await removeCgroupTree(parent).catch(() => {/* in use */});
      }
    },
  };
}

let conf: Promise<string> | undefined;
/** The containers.conf of the tests (rlimits this machine allows). */
function containersConf(): Promise<string> {
  conf ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "bpfxpodman-" });
    const file = `${dir}/containers.conf`;
    await Deno.writeTextFile(
      file,
      '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n',
    );
    globalThis.addEventListener("unload", () => {
      Deno.removeSync(dir, { recursive: true });
    });
    return file;
  })();
  return conf;
}

/**
 * Runs podman with the tests' containers.conf, in the directory of that
 * file: `podman kube play` builds an image from a directory of the image's
 * name in the current directory when there is one (the checkout's `bpfx`).
 */
async function podman(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = await containersConf();
  return await run("podman", args, {
    env: { CONTAINERS_CONF: file },
    cwd: file.slice(0, file.lastIndexOf("/")),
  });
}

/** A kubelet-style ConfigMap volume: `..data` swapped to each new version. */
class ConfigDir {
  #n = 0;
  constructor(readonly path: string) {}
  /** Writes a new version and swaps it in as the kubelet does. */
  async write(text: string): Promise<void> {
    const version = `..2026_12_08_00_00_00.${++this.#n}`;
    const old = await Deno.readLink(`${this.path}/..data`).catch(() => null);
    await Deno.mkdir(`${this.path}/${version}`);
    await Deno.writeTextFile(`${this.path}/${version}/bpfx.yaml`, text);
    await Deno.symlink(version, `${this.path}/..data_tmp`);
    await Deno.rename(`${this.path}/..data_tmp`, `${this.path}/..data`);
    if (!(await exists(`${this.path}/bpfx.yaml`))) {
      await Deno.symlink("..data/bpfx.yaml", `${this.path}/bpfx.yaml`);
    }
    if (old !== null) {
      await Deno.remove(`${this.path}/${old}`, { recursive: true });
    }
  }
}

/** A node of the test's own: the directories the pod's hostPaths become. */
interface Node extends AsyncDisposable {
  bpf: string;
  cg: string;
  state: string;
  views: string;
  config: ConfigDir;
  makeCgroup(rel: string): Promise<string>;
}

async function testNode(): Promise<Node> {
  const stack = new AsyncDisposableStack();
  try {
    const bpf = stack.use(await privateBpffs());
    const cg = stack.use(await privateCgroups());
    const dir = stack.use(await tempDir("bpfxnode-"));
    for (const d of ["state", "views", "config"]) {
      await Deno.mkdir(`${dir.path}/${d}`);
    }
    const moved = stack.move();
    return {
      bpf: bpf.path,
      cg: cg.root,
      state: `${dir.path}/state`,
      views: `${dir.path}/views`,
      config: new ConfigDir(`${dir.path}/config`),
      makeCgroup: (rel) => cg.make(rel),
      async [Symbol.asyncDispose]() {
        await moved.disposeAsync();
      },
    };
  } catch (e) {
    await stack.disposeAsync();
    throw e;
  }
}

/** The played copy of the pod template (see the file's header for how it differs). */
async function podFor(
  node: Node,
  name: string,
  args?: string[],
  port?: number,
): Promise<Obj> {
  const { metadata, spec } = await podTemplate();
  const hostPaths: Record<string, string> = {
    bpffs: node.bpf,
    cgroup: node.cg,
    state: node.state,
    views: node.views,
  };
  const volumes = list(spec.volumes, "volumes").map((v) => {
    const name = String(v.name);
    if (v.configMap !== undefined) {
      return { name, hostPath: { path: node.config.path, type: "Directory" } };
    }
    if (v.hostPath !== undefined) {
      const path = hostPaths[name];
      assert.ok(
        path !== undefined,
        `hostPath volume "${name}" has no test directory: add one`,
      );
      return { name, hostPath: { ...obj(v.hostPath, name), path } };
    }
    return v;
  });
  const containers = list(spec.containers, "containers").map((c) => {
    const { ports: _p, readinessProbe: _r, livenessProbe: _l, ...rest } = c;
    let a = args ?? (rest.args as string[]);
    if (port !== undefined) {
      a = a.map((x) => x.replace(/^0\.0\.0\.0:\d+$/, `127.0.0.1:${port}`));
    }
    return { ...rest, args: a };
  });
  const { hostPID: _h, ...podSpec } = spec;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { ...metadata, name },
    spec: { ...podSpec, volumes, containers, restartPolicy: "Never" },
  };
}

/** A played pod, removed (`podman pod rm -f`) when disposed. */
interface Pod extends AsyncDisposable {
  name: string;
  container: string;
  logs(): Promise<string>;
  /** Waits for the container to exit; its exit code. */
  wait(): Promise<number>;
  stop(seconds: number): Promise<void>;
  /** How long the exited container ran (podman's start and finish times), ms. */
  ran(): Promise<number>;
}

async function play(pod: Obj, dir: string): Promise<Pod> {
  const name = String(obj(pod.metadata, "metadata").name);
  const file = `${dir}/${name}.json`;
  await Deno.writeTextFile(file, JSON.stringify(pod));
  const container = `${name}-${
    list(obj(pod.spec, "spec").containers, "containers")[0]?.name
  }`;
  const handle: Pod = {
    name,
    container,
    async logs() {
      const r = await podman(["logs", container]);
      return r.stdout + r.stderr;
    },
    async wait() {
      const r = await podman(["wait", container]);
      assert.equal(r.code, 0, r.stderr);
      return Number(r.stdout.trim());
    },
    async stop(seconds) {
      const r = await podman(["pod", "stop", "-t", String(seconds), name]);
      assert.equal(r.code, 0, r.stderr);
    },
    async ran() {
      const r = await podman([
        "inspect",
        "--format",
        "{{.State.StartedAt.UnixNano}} {{.State.FinishedAt.UnixNano}}",
        container,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const [start, end] = r.stdout.trim().split(" ").map(BigInt);
      return Number(((end ?? 0n) - (start ?? 0n)) / 1_000_000n);
    },
    async [Symbol.asyncDispose]() {
      const id = await podman(["pod", "inspect", "--format", "{{.Id}}", name]);
      await podman(["pod", "rm", "-f", "-t", "5", name]);
      await removePodCgroups(id.stdout.trim());
    },
  };
  const r = await podman(["kube", "play", file]);
  if (r.code !== 0) {
    await handle[Symbol.asyncDispose]();
    assert.fail(`podman kube play ${file}: ${r.stderr}`);
  }
  return handle;
}

interface Link {
  id: number;
  prog_id: number;
  type: string;
  cgroup_id?: number;
  pid?: number;
}

/** The link pinned at each path (bpftool). */
async function linksAt(paths: string[]): Promise<Map<string, Link>> {
  const out = new Map<string, Link>();
  for (const p of paths) {
    out.set(p, await bpftoolJson<Link>(["link", "show", "pinned", p]));
  }
  return out;
}

async function inodeOf(path: string): Promise<number> {
  return (await Deno.stat(path)).ino ?? -1;
}

/** What the node holds: every pin below its bpffs and every file of its mirror. */
async function holdings(node: Node): Promise<string[]> {
  const out: string[] = [];
  async function walk(root: string, tag: string, d = root) {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.name.endsWith(".debug")) continue;
      if (e.isDirectory) await walk(root, tag, p);
      else {out.push(
          `${tag}${p.slice(root.length)}${
            e.isSymlink ? ` -> ${await Deno.readLink(p)}` : ""
          }`,
        );}
    }
  }
  await walk(node.bpf, "bpf");
  await walk(node.views, "views");
  return out.sort();
}

/** The checks of a node on which the ConfigMap's file was applied. */
async function checkApplied(
  node: Node,
  cgroups: string[],
): Promise<Map<string, Link>> {
  // bpftool on the host sees the programs (pinned where the file says) ...
  for (const prog of ["cgstat/cgstat", "tasks/tasks"]) {
    const info = await bpftoolJson<{ type: string; name: string }>([
      "prog",
      "show",
      "pinned",
      `${node.bpf}/bpfx/${prog}`,
    ]);
    assert.equal(info.type, "tracing", prog);
  }
  // ... and one cgroup view link per cgroup of the subtree, and the task view.
  const pins = cgroups.map((c) =>
    `${node.bpf}/bpfx/cgviews${c === "" ? "" : `/${c}`}/cgstat`
  );
  const links = await linksAt([...pins, `${node.bpf}/bpfx/init`]);
  for (const c of cgroups) {
    const link = links.get(
      `${node.bpf}/bpfx/cgviews${c === "" ? "" : `/${c}`}/cgstat`,
    );
    assert.equal(
      link?.cgroup_id,
      await inodeOf(c === "" ? node.cg : `${node.cg}/${c}`),
      c,
    );
    // The mirror on the host: one file per cgroup, pointing at the pin's
    // path as the pod names it (the host's /sys/fs/bpf in a real node).
    const mirror = `${node.views}/cg${c === "" ? "" : `/${c}`}/cgstat`;
    assert.equal(
      await Deno.readLink(mirror),
      `/sys/fs/bpf/bpfx/cgviews${c === "" ? "" : `/${c}`}/cgstat`,
    );
    const text = await Deno.readTextFile(
      `${node.bpf}/bpfx/cgviews${c === "" ? "" : `/${c}`}/cgstat`,
    );
    contains(
      text,
      `id=${await inodeOf(c === "" ? node.cg : `${node.cg}/${c}`)}`,
    );
  }
  assert.equal(
    await Deno.readLink(`${node.views}/init`),
    "/sys/fs/bpf/bpfx/init",
  );
  return links;
}

function lines(text: string): Obj[] {
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) =>
    obj(JSON.parse(l), l)
  );
}

/**
 * Plays a pod that runs `bpfx apply` of the ConfigMap's file, waits for it
 * to exit 0, prints how long it took, and returns its JSON report; the pod
 * is removed before it returns.
 */
async function applyPod(node: Node, dir: string, name: string): Promise<Obj> {
  const played = performance.now();
  await using pod = await play(
    await podFor(node, name, ["apply", CONFIG, "--json"]),
    dir,
  );
  assert.equal(await pod.wait(), 0, await pod.logs());
  console.log(
    `k8s: ${name} (apply) done ${
      (performance.now() - played).toFixed(0)
    } ms after play, the container ran ${await pod.ran()} ms`,
  );
  const [report] = lines(await pod.logs());
  return obj(report, `${name}'s report`);
}

kernelTest(
  "the DaemonSet's pod applies the ConfigMap's file on the host, its watcher follows a new cgroup and stops on SIGTERM, a second pod finds nothing to do",
  async () => {
    await using _cgroups = podmanCgroups();
    await using node = await testNode();
    await using dir = await tempDir("bpfxpod-");
    const cgroups = ["", "a", "b"];
    for (const c of cgroups.slice(1)) await node.makeCgroup(c);
    await node.config.write(await configMapFile());

    const first = await applyPod(node, dir.path, "bpfxtest-apply1");
    assert.equal(first.changes, true);
    const actions = list(first.actions, "actions").map((a) =>
      `${a.action} ${a.kind} ${a.name}`
    );
    assert.deepEqual(actions.sort(), [
      "create exposure init",
      "create object cgstat",
      "create object tasks",
      "create rule cgstat",
      "create view init",
    ]);
    const links = await checkApplied(node, cgroups);
    let before = await holdings(node);

    // A second pod, as in a rolling update: nothing to do, nothing made twice.
    const second = await applyPod(node, dir.path, "bpfxtest-apply2");
    assert.equal(second.changes, false, JSON.stringify(second));
    assert.deepEqual(await holdings(node), before);
    const again = await checkApplied(node, cgroups);
    for (const [pin, link] of links) {
      assert.equal(again.get(pin)?.id, link.id, pin);
    }

    // The pod's watcher (`bpfx watch`, on the state the pods share) follows
    // a new cgroup, and SIGTERM stops it cleanly, everything left in place.
    {
      await using pod = await play(
        await podFor(node, "bpfxtest-watch0", ["watch", "--json"]),
        dir.path,
      );
      await eventually(
        "the watcher started",
        async () => (await pod.logs()).includes('"action":"started"'),
        30,
      );
      await node.makeCgroup("c");
      cgroups.push("c");
      await eventually(
        "a view for the new cgroup",
        () => exists(`${node.bpf}/bpfx/cgviews/c/cgstat`),
        5,
      );
      const stopping = performance.now();
      await pod.stop(30);
      const stopped = performance.now() - stopping;
      assert.ok(stopped < 10_000, `SIGTERM took ${stopped.toFixed(0)} ms`);
      assert.equal(await pod.wait(), 0, await pod.logs());
      console.log(
        `k8s: the watcher stopped ${stopped.toFixed(0)} ms after SIGTERM`,
      );
    }
    await checkApplied(node, cgroups);
    before = await holdings(node);

    // Entries taken out of the ConfigMap: their objects go, the rest stays.
    const smaller = obj(parse(await configMapFile()), "file");
    smaller.views = [];
    smaller.exposures = [];
    await node.config.write(JSON.stringify(smaller));
    const third = await applyPod(node, dir.path, "bpfxtest-apply3");
    assert.equal(third.changes, true);
    assert.ok(
      !(await exists(`${node.bpf}/bpfx/init`)),
      "the view's pin stayed",
    );
    assert.ok(!(await exists(`${node.views}/init`)), "the exposure stayed");
    assert.deepEqual(
      await holdings(node),
      before.filter((h) =>
        !h.startsWith("bpf/bpfx/init") && !h.startsWith("views/init")
      ),
    );
  },
  { needs: NEEDS },
);

const WATCH_TEST =
  "the image's command in the DaemonSet's pod: ready after the first apply, a scrape, a new ConfigMap version within a second, a restart that makes nothing twice";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function get(
  url: string,
): Promise<{ status: number; body: string } | null> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { status: r.status, body: await r.text() };
  } catch {
    return null;
  }
}

/** Waits until /healthz answers 200; the milliseconds it took. */
async function ready(port: number, pod: Pod, seconds: number): Promise<number> {
  const start = performance.now();
  for (;;) {
    const r = await get(`http://127.0.0.1:${port}/healthz`);
    if (r?.status === 200) return performance.now() - start;
    if (performance.now() - start > seconds * 1000) {
      assert.fail(`/healthz not ready after ${seconds} s: ${await pod.logs()}`);
    }
    await sleep(20);
  }
}

kernelTest(WATCH_TEST, async () => {
  await using _cgroups = podmanCgroups();
  await using node = await testNode();
  await using dir = await tempDir("bpfxpod-");
  const cgroups = ["", "a", "b"];
  for (const c of cgroups.slice(1)) await node.makeCgroup(c);
  const text = await configMapFile();
  await node.config.write(text);
  const port = freePort();

  let links: Map<string, Link>;
  let before: string[];
  {
    await using pod = await play(
      await podFor(node, "bpfxtest-watch1", undefined, port),
      dir.path,
    );
    const took = await ready(port, pod, 60);
    console.log(`k8s: first pod ready in ${took.toFixed(0)} ms after play`);
    links = await checkApplied(node, cgroups);
    // A scrape of the pod's port returns the per-cgroup metrics.
    const scrape = await get(`http://127.0.0.1:${port}/metrics`);
    assert.equal(scrape?.status, 200);
    for (const c of ["a", "b"]) contains(scrape?.body ?? "", `cgroup="${c}"`);
    // A new cgroup is followed.
    await node.makeCgroup("c");
    const c = `${node.bpf}/bpfx/cgviews/c/cgstat`;
    for (let i = 0; i < 100 && !(await exists(c)); i++) await sleep(20);
    assert.ok(
      await exists(c),
      `no view for a new cgroup: ${await pod.logs()}`,
    );
    cgroups.push("c");
    // A new ConfigMap version, swapped in as the kubelet does: applied
    // within a second.
    const v2 = obj(parse(text), "file");
    v2.views = [...list(v2.views, "views"), {
      name: "init2",
      object: "tasks",
      program: "tasks",
      pin: "/sys/fs/bpf/bpfx/init2",
      target: { pid: 1 },
    }];
    const start = performance.now();
    await node.config.write(JSON.stringify(v2));
    while (
      !(await exists(`${node.bpf}/bpfx/init2`)) &&
      performance.now() - start < 5000
    ) {
      await sleep(10);
    }
    const applied = performance.now() - start;
    assert.ok(
      applied <= 1000,
      `the new version took ${applied.toFixed(0)} ms: ${await pod.logs()}`,
    );
    console.log(
      `k8s: new ConfigMap version applied in ${applied.toFixed(0)} ms`,
    );
    links = await checkApplied(node, cgroups);
    before = await holdings(node);
    // SIGTERM within the grace period: a clean exit, everything left in place.
    const t = performance.now();
    await pod.stop(30);
    assert.ok(
      performance.now() - t < 10_000,
      "the pod took more than 10 s to stop",
    );
    assert.equal(await pod.wait(), 0, await pod.logs());
    assert.deepEqual(await holdings(node), before);
  }
  // Played again, as in a rolling update: nothing made twice, nothing lost.
  {
    await using pod = await play(
      await podFor(node, "bpfxtest-watch2", undefined, port),
      dir.path,
    );
    const took = await ready(port, pod, 60);
    console.log(`k8s: second pod ready in ${took.toFixed(0)} ms after play`);
    assert.deepEqual(await holdings(node), before);
    const again = await checkApplied(node, cgroups);
    for (const [pin, link] of links) {
      assert.equal(again.get(pin)?.id, link.id, pin);
    }
    for (const line of lines(await pod.logs())) {
      assert.ok(
        !String(line.action ?? "").endsWith("-made"),
        `made again: ${JSON.stringify(line)}`,
      );
    }
  }
}, { needs: NEEDS });
