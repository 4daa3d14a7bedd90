// The desired-state tests' host (tests/desired_test.ts,
// tests/desired_replace_test.ts): a private bpffs, a cgroup subtree with
// children "a" and "b", a state directory, a directory for exposures and
// the file, all removed when disposed, after an apply of an empty file
// (the file's own way out) has removed what it made. And the CLI run
// in-process, its output captured.
import { main } from "../cli.ts";
import { captureIo, privateBpffs, privateCgroups, tempDir } from "./_kernel.ts";

export interface Host extends AsyncDisposable {
  /** The private bpffs. */
  bpf: string;
  /** The cgroup subtree's root. */
  cg: string;
  state: string;
  /** Where exposures go. */
  srv: string;
  /** A directory of the test's own (the file and the state are in it). */
  dir: string;
  /** The desired-state file. */
  file: string;
  write(text: string): Promise<void>;
}

export async function host(prefix: string): Promise<Host> {
  const fs = await privateBpffs();
  const cgroups = await privateCgroups();
  const dir = await tempDir(prefix);
  await cgroups.make("a");
  await cgroups.make("b");
  const state = `${dir.path}/state`;
  const srv = `${dir.path}/srv`;
  await Deno.mkdir(srv);
  const file = `${dir.path}/host.yaml`;
  return {
    bpf: fs.path,
    cg: cgroups.root,
    state,
    srv,
    dir: dir.path,
    file,
    write: (text) => Deno.writeTextFile(file, text),
    async [Symbol.asyncDispose]() {
      try {
        // The file's own way out: an empty file removes what it made.
        await Deno.writeTextFile(file, "name: host\n");
        await main(["apply", file, "--state", state], { io: captureIo() });
      } finally {
        try {
          await fs[Symbol.asyncDispose]();
        } finally {
          try {
            await cgroups[Symbol.asyncDispose]();
          } finally {
            await dir[Symbol.asyncDispose]();
          }
        }
      }
    },
  };
}

/** Runs the CLI in-process: its exit code, and its stdout and stderr. */
export async function cli(
  args: string[],
): Promise<{ code: number; out: string }> {
  const io = captureIo();
  const code = await main(args, { io });
  return { code, out: new TextDecoder().decode(io.stdout()) + io.stderr() };
}

/**
 * The rule "stat" of the files, as YAML list item: views of object
 * "cgstat"'s program over the host's cgroups, exposed below `<srv>/cg`.
 */
export function statRule(h: Host): string {
  return `  - name: stat
    object: cgstat
    program: cgstat
    cgroupRoot: ${h.cg}
    pinRoot: ${h.bpf}/cgviews
    exposeRoot: ${h.srv}/cg
`;
}
