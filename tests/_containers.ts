// Real containers for the tests: Debian's runc runs busybox (busybox-static,
// installed by scripts/deps.sh) from a rootfs the test makes, with its
// cgroup under the test's own subtree, detached, and always killed and
// deleted when disposed. No image registry is needed or reached. It imports
// nothing that probes the kernel (tests/_kernel.ts does, when loaded), so
// the benchmarks use it too.
import { assert } from "./_assert.ts";
import type { TestCgroups } from "./_kernel.ts";
import { run } from "./_run.ts";

/** A running runc container. */
export interface Container extends AsyncDisposable {
  /** Its runc id, unique to this test run. */
  readonly id: string;
  /** Its init process, as the host sees its PID. */
  readonly pid: number;
  /** Its cgroup directory (cgroup2). */
  readonly cgroup: string;
  /** Runs a command inside it (`runc exec`). */
  exec(
    args: string[],
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Kills and deletes it now (disposing does too, once). */
  stop(): Promise<void>;
}

const BUSYBOX = "/usr/bin/busybox";
const TOOLS = ["sh", "cat", "sleep", "ls", "ln", "mkdir", "grep", "stat"];

let rootfs: Promise<string> | undefined;
/** How many containers use the shared rootfs now. */
let users = 0;

/**
 * One busybox rootfs for the containers of this test process that run at
 * the same time, read-only in each (each gets its own tmpfs at /run and
 * /tmp); removed when the last of them stops.
 */
function sharedRootfs(): Promise<string> {
  users++;
  rootfs ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "bpfxrootfs-" });
    for (const d of ["bin", "proc", "sys", "dev", "run", "tmp", "etc"]) {
      await Deno.mkdir(`${dir}/${d}`);
    }
    await Deno.copyFile(BUSYBOX, `${dir}/bin/busybox`);
    await Deno.chmod(`${dir}/bin/busybox`, 0o755);
    for (const t of TOOLS) await Deno.symlink("busybox", `${dir}/bin/${t}`);
    return dir;
  })();
  return rootfs;
}

/** One container is done with the shared rootfs. */
async function releaseRootfs(): Promise<void> {
  if (--users > 0 || rootfs === undefined) return;
  const dir = await rootfs;
  rootfs = undefined;
  await Deno.remove(dir, { recursive: true });
}

/** The v1 cgroup hierarchies (hybrid layout), where runc also makes cgroups. */
async function v1Mounts(): Promise<string[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  return text.split("\n").flatMap((l) => {
    const [left, right] = l.split(" - ");
    return right?.split(" ")[0] === "cgroup" ? [left?.split(" ")[4] ?? ""] : [];
  }).filter((p) => p !== "");
}

/** Removes `rel` and its empty parents below each v1 hierarchy (runc's). */
async function removeV1(rel: string): Promise<void> {
  for (const m of await v1Mounts()) {
    const parts = rel.split("/").filter((p) => p !== "");
    while (parts.length > 0) {
      try {
        await Deno.remove(`${m}/${parts.join("/")}`);
      } catch (e) {
        // Not empty yet: another container's. Not there: runc removed it.
        if (!(e instanceof Deno.errors.NotFound)) break;
      }
      parts.pop();
    }
  }
}

let serial = 0;

/**
 * Starts a busybox container whose cgroup is `rel` below the test's subtree
 * `cgroups`, running `args` (by default a long sleep).
 */
export async function runcContainer(
  cgroups: Pick<TestCgroups, "root" | "mount">,
  rel: string,
  args: string[] = ["sleep", "100000"],
): Promise<Container> {
  const fs = await sharedRootfs();
  const id = `bpfx-${Deno.pid}-${++serial}-${crypto.randomUUID().slice(0, 8)}`;
  const bundle = await Deno.makeTempDir({ prefix: "bpfxbundle-" }).catch(
    async (e) => {
      await releaseRootfs();
      throw e;
    },
  );
  const state = `${bundle}/state`;
  const runc = (a: string[]) =>
    run("runc", ["--root", state, ...a], { stdin: "null" });
  const cgroupsPath = `${cgroups.root.slice(cgroups.mount.length)}/${rel}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      await runc(["kill", id, "KILL"]);
      await runc(["delete", "-f", id]);
      await removeV1(cgroupsPath);
    } finally {
      try {
        await Deno.remove(bundle, { recursive: true });
      } finally {
        await releaseRootfs();
      }
    }
  };
  try {
    const spec = await run("runc", ["spec", "--bundle", bundle]);
    assert.equal(spec.code, 0, spec.stderr);
    const config = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
    config.process.terminal = false;
    config.process.args = args;
    config.root = { path: fs, readonly: true };
    config.hostname = id.slice(0, 60);
    config.linux.cgroupsPath = cgroupsPath;
    for (const at of ["/run", "/tmp"]) {
      config.mounts.push({
        destination: at,
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "mode=755", "size=1m"],
      });
    }
    await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(config));
    // The container's init inherits runc's stdio: nothing that a pipe
    // would wait on; runc's own errors go to its log.
    const log = `${bundle}/runc.log`;
    const started = await new Deno.Command("runc", {
      args: [
        "--root",
        state,
        "--log",
        log,
        "run",
        "--detach",
        "--bundle",
        bundle,
        "--pid-file",
        `${bundle}/pid`,
        id,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    if (!started.success) {
      const said = await Deno.readTextFile(log).catch(() => "");
      throw new Error(`runc run ${id} failed: ${said}`);
    }
    const pid = Number((await Deno.readTextFile(`${bundle}/pid`)).trim());
    assert.ok(pid > 0, "runc wrote the container's pid");
    return {
      id,
      pid,
      cgroup: `${cgroups.root}/${rel}`,
      exec: (a) => runc(["exec", id, ...a]),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
