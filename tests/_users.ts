// An unprivileged user made for one test (useradd, removed by userdel),
// and a cgroup delegated to it: the user's side of the hardening tests.
import { assert, removeCgroup, run } from "./_kernel.ts";

/** An unprivileged user made for one test. */
export interface TestUser extends AsyncDisposable {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** Runs a command as the user, with no supplementary groups. */
  run(
    cmd: string,
    args: string[],
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Starts a command as the user. */
  spawn(cmd: string, args: string[]): Deno.ChildProcess;
}

/** Makes a user with no home and no login shell. */
export async function testUser(): Promise<TestUser> {
  const name = `bpfxt${crypto.randomUUID().slice(0, 8)}`;
  const made = await run("useradd", ["-M", "-N", "-s", "/bin/false", name]);
  assert.equal(made.code, 0, made.stderr);
  const id = async (flag: string) =>
    Number((await run("id", [flag, name])).stdout.trim());
  const uid = await id("-u");
  const gid = await id("-g");
  const as = (cmd: string, args: string[]) => [
    `--reuid=${uid}`,
    `--regid=${gid}`,
    "--clear-groups",
    "--",
    cmd,
    ...args,
  ];
  return {
    name,
    uid,
    gid,
    run: (cmd, args) => run("setpriv", as(cmd, args)),
    spawn: (cmd, args) =>
      new Deno.Command("setpriv", {
        args: as(cmd, args),
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
    async [Symbol.asyncDispose]() {
      await run("userdel", [name]);
    },
  };
}

/**
 * The cgroup `dir` delegated to `u` (the directory and its `cgroup.procs`,
 * `cgroup.threads` and `cgroup.subtree_control` are the user's), as systemd
 * delegates one. Disposing it removes every cgroup below it, whatever bytes
 * their names hold (they are removed by handle, with find), and then `dir`.
 */
export async function delegated(
  u: TestUser,
  dir: string,
): Promise<AsyncDisposable & { path: string }> {
  await Deno.mkdir(dir);
  for (const f of ["", "/cgroup.procs", "/cgroup.threads"]) {
    await Deno.chown(`${dir}${f}`, u.uid, u.gid);
  }
  try {
    await Deno.chown(`${dir}/cgroup.subtree_control`, u.uid, u.gid);
  } catch { /* a v1-style hybrid root may lack it */ }
  return {
    path: dir,
    async [Symbol.asyncDispose]() {
      // Deno's directory listing reads names as UTF-8 (lossily): find
      // walks the bytes. The cgroups hold no process (the tests' shells
      // are gone), so rmdir removes each.
      const r = await run("find", [
        dir,
        "-mindepth",
        "1",
        "-depth",
        "-type",
        "d",
        "-delete",
      ]);
      assert.equal(r.code, 0, r.stderr);
      await removeCgroup(dir);
    },
  };
}

/**
 * A bash script's argument list for `bash -c`: `script` sees `$0` as `dir`
 * and may write bytes that are not UTF-8 as `$'\xff'`.
 */
export function sh(script: string, dir: string): string[] {
  return ["-c", script, dir];
}
