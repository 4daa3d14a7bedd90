// Running a command for a test: a module of its own, so that helpers used
// outside the tests (tests/_containers.ts, by the benchmarks) need not
// import tests/_kernel.ts, which probes the kernel when loaded.

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
