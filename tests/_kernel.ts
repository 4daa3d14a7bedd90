// Kernel helpers for the privileged tests: the gate that decides whether a
// test may run, a private bpffs per test, and the checks that every test
// leaves nothing behind.
import { assert } from "./_assert.ts";
import { doctor, mountBpffs, openHandles, unmount, unpin } from "../mod.ts";

export { assert };

/** Why the kernel cannot run the privileged tests, or null when it can. */
function kernelGap(): string | null {
  if (Deno.uid() !== 0) return "not running as root";
  let report;
  try {
    report = doctor();
  } catch (e) {
    return `bpfx doctor failed: ${(e as Error).message}`;
  }
  const need = ["privileges", "btf", "iterator task"];
  for (const name of need) {
    const c = report.checks.find((c) => c.name === name);
    if (!c?.ok) {
      return `the kernel lacks "${name}": ${c?.detail ?? "not probed"}`;
    }
  }
  return null;
}

const gap = kernelGap();
const required = Deno.env.get("BPFX_REQUIRE_KERNEL") === "1";

/**
 * Registers a privileged test. Where the kernel lacks what it needs, the
 * test is skipped with the reason printed, unless BPFX_REQUIRE_KERNEL=1, in
 * which case it fails. After the test, the core must hold no open handle.
 */
export function kernelTest(name: string, fn: () => Promise<void> | void): void {
  if (gap !== null && !required) {
    console.warn(`skipping "${name}": ${gap}`);
    Deno.test({ name, ignore: true, fn: () => {} });
    return;
  }
  Deno.test(name, async () => {
    if (gap !== null) {
      throw new Error(`BPFX_REQUIRE_KERNEL=1 but ${gap}`);
    }
    const before = openHandles();
    await fn();
    assert.equal(openHandles(), before, "the test left core handles open");
  });
}

/** A private bpffs mounted on a dot-free temporary directory. */
export interface PrivateBpffs extends AsyncDisposable {
  readonly path: string;
}

/** Mounts a private bpffs; disposing it empties it, unmounts and removes it. */
export async function privateBpffs(): Promise<PrivateBpffs> {
  // bpffs refuses '.' in names it creates; the mount point itself is on
  // another filesystem, but keep it dot-free so paths below are too.
  const path = await Deno.makeTempDir({ prefix: "bpfxtest-" });
  if (path.includes(".")) throw new Error(`temp dir "${path}" has a dot`);
  mountBpffs(path);
  return {
    path,
    async [Symbol.asyncDispose]() {
      try {
        unpin(path, { recursive: true });
      } finally {
        try {
          unmount(path);
        } finally {
          await Deno.remove(path);
        }
      }
    },
  };
}

/** Runs a command, returning its exit code, stdout and stderr as text. */
export async function run(
  cmd: string,
  args: string[],
  options: Deno.CommandOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    ...options,
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** The repository root. */
export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** The example object built by `make`. */
export const HELLO = `${ROOT}/build/examples/hello.bpf.o`;
/** Real third-party objects from Debian's xdp-tools. */
export const XDP_DIR = "/usr/lib/x86_64-linux-gnu/bpf";
/** The launcher. */
export const BPFX = `${ROOT}/bpfx`;
