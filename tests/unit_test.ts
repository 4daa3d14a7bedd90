// The shipped systemd unit (contrib/bpfx-watch.service) lets every feature
// work: its seccomp filters, namespace restriction, capability bounding set
// and no_new_privs, applied the way systemd applies them without systemd as
// PID 1 (`setpriv` for the capabilities and no_new_privs, and the filters
// built with libseccomp by build/tests/unit_sandbox, from the unit's own
// SystemCallFilter= and RestrictNamespaces=), run `bpfx expose --into` a
// runc container and the watcher that takes it out when its pin goes.
import { createView } from "../mod.ts";
import {
  assert,
  BPFX,
  eventually,
  kernelTest,
  privateBpffs,
  privateCgroups,
  privateState,
  ROOT,
  run,
  tempDir,
} from "./_kernel.ts";
import { runcContainer } from "./_containers.ts";

const UNIT = `${ROOT}/contrib/bpfx-watch.service`;
const SANDBOX = `${ROOT}/build/tests/unit_sandbox`;
const TASKS = `${ROOT}/build/examples/tasks.bpf.o`;

/** The values of `key=` in the unit's [Service] section, in order. */
function directive(unit: string, key: string): string[] {
  return unit.split("\n").filter((l) => l.startsWith(`${key}=`)).map((l) =>
    l.slice(key.length + 1).trim()
  );
}

/** systemd's syscall groups, from `systemd-analyze syscall-filter`. */
async function syscallGroups(): Promise<Map<string, string[]>> {
  const r = await run("systemd-analyze", ["syscall-filter"]);
  assert.equal(r.code, 0, r.stderr);
  const groups = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith("@")) groups.set(line.trim(), current = []);
    else if (line.trim() !== "" && !line.trim().startsWith("#")) {
      current?.push(line.trim());
    }
  }
  return groups;
}

/** The syscalls a SystemCallFilter= allow list names, groups expanded. */
async function allowed(filter: string): Promise<string[]> {
  const groups = await syscallGroups();
  const out = new Set<string>();
  const add = (word: string) => {
    if (!word.startsWith("@")) return void out.add(word);
    const members = groups.get(word);
    assert.ok(members !== undefined, `unknown syscall group ${word}`);
    for (const m of members) add(m);
  };
  for (const word of filter.split(/\s+/)) add(word);
  return [...out].sort();
}

/** How the unit is applied: the command prefix, from the unit's own text. */
async function unitSandbox(dir: string): Promise<{
  prefix: (retain?: string) => string[];
  retain: string;
}> {
  const unit = await Deno.readTextFile(UNIT);
  const filter = directive(unit, "SystemCallFilter");
  assert.equal(filter.length, 1, "one SystemCallFilter= line");
  assert.deepEqual(directive(unit, "SystemCallErrorNumber"), ["EPERM"]);
  assert.deepEqual(directive(unit, "SystemCallArchitectures"), ["native"]);
  assert.deepEqual(directive(unit, "NoNewPrivileges"), ["yes"]);
  const syscalls = await allowed(filter[0]!);
  await Deno.writeTextFile(`${dir}/syscalls`, syscalls.join("\n") + "\n");
  const [restrict] = directive(unit, "RestrictNamespaces");
  assert.ok(restrict !== undefined && restrict !== "yes" && restrict !== "no");
  const retain = restrict.split(/\s+/).join(",");
  const caps = directive(unit, "CapabilityBoundingSet")[0]!.split(/\s+/).map(
    (c) => `+${c.replace(/^CAP_/, "").toLowerCase()}`,
  );
  return {
    retain,
    prefix: (r = retain) => [
      "setpriv",
      "--no-new-privs",
      `--bounding-set=-all,${caps.join(",")}`,
      "--",
      SANDBOX,
      `${dir}/syscalls`,
      r,
      "--",
    ],
  };
}

kernelTest(
  "under the unit's seccomp filters, namespaces and capabilities, bpfx expose --into puts a view in a runc container and the watcher takes it out when the pin goes",
  async () => {
    await using t = await tempDir("bpfxunit-");
    const sandbox = await unitSandbox(t.path);
    // The filters bite: a mount namespace is allowed, a network one is not
    // (RestrictNamespaces=yes, "none" retained, refuses both).
    const [cmd, ...args] = sandbox.prefix();
    let r = await run(cmd!, [...args, "unshare", "--mount", "true"]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(cmd!, [...args, "unshare", "--net", "true"]);
    assert.notEqual(r.code, 0, "unshare --net is refused");
    const [c0, ...a0] = sandbox.prefix("none");
    r = await run(c0!, [...a0, "unshare", "--mount", "true"]);
    assert.notEqual(r.code, 0, "RestrictNamespaces=yes refuses a mount ns");

    await using b = await privateBpffs();
    await using state = await privateState();
    await using cg = await privateCgroups();
    await using c = await runcContainer(cg, "web");
    const pin = `${b.path}/tasks`;
    const view = createView(`${TASKS}:tasks`, { pin });
    assert.ok(view.id > 0);
    const path = "/run/bpfx/tasks";
    r = await run(cmd!, [
      ...args,
      BPFX,
      "expose",
      pin,
      path,
      "--into",
      String(c.pid),
      "--parents",
      "--state",
      state.path,
    ]);
    assert.equal(r.code, 0, `expose --into under the unit: ${r.stderr}`);
    const read = await c.exec(["cat", path]);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stdout, /tgid/);

    const watcher = new Deno.Command(cmd!, {
      args: [...args, BPFX, "watch", "--state", state.path, "--json"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let out = "";
    const reading = (async () => {
      for await (
        const chunk of watcher.stdout.pipeThrough(new TextDecoderStream())
      ) out += chunk;
    })();
    const errText = new Response(watcher.stderr).text();
    try {
      await eventually(
        () => `the watcher started under the unit: ${out}`,
        () => out.includes('"started"'),
        10,
      );
      await Deno.remove(pin);
      await eventually(
        () => `the watcher took the view out of the container: ${out}`,
        async () => (await c.exec(["ls", "/run/bpfx"])).stdout.trim() === "",
        10,
      );
      assert.ok(!out.includes('"error"'), out);
    } finally {
      try {
        watcher.kill("SIGTERM");
      } catch { /* already gone */ }
      const status = await watcher.status;
      await reading;
      const err = await errText;
      assert.equal(status.code, 0, `the watcher's exit; stderr: ${err}`);
    }
  },
  { needs: ["iterator task", "fanotify bpffs", "mount namespaces"] },
);
