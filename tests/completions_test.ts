// The bash completion script in a real bash: sourced twice (a re-read
// ~/.bashrc does that), it still loads without an error and still completes.
import { assert, BPFX, ROOT, run } from "./_kernel.ts";

Deno.test(
  "completions bash: the script can be sourced twice, and completes after",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "bpfxcomp-" });
    try {
      const made = await run(BPFX, ["completions", "bash"], { cwd: ROOT });
      assert.equal(made.code, 0, made.stderr);
      const script = `${dir}/bpfx.bash`;
      await Deno.writeTextFile(script, made.stdout);
      // `bpfx` on PATH is the checkout's launcher, which the script calls
      // back; COMP_* are what bash sets for `bpfx ma<TAB>`.
      await Deno.symlink(BPFX, `${dir}/bpfx`);
      const body = [
        "set -eu",
        `source '${script}'`,
        `source '${script}'`,
        "complete -p bpfx",
        "COMP_WORDS=(bpfx ma); COMP_CWORD=1; COMP_LINE='bpfx ma'",
        "COMP_POINT=${#COMP_LINE}",
        // compopt complains outside a real completion; that is not the
        // script's error.
        "__bpfx_complete 2>/dev/null || true",
        `printf 'candidate %s\\n' "\${COMPREPLY[@]}"`,
      ].join("\n");
      const o = await run("bash", ["--norc", "--noprofile", "-c", body], {
        cwd: dir,
        env: { PATH: `${dir}:${Deno.env.get("PATH") ?? ""}` },
      });
      assert.equal(o.stderr, "", "bash's errors");
      assert.equal(o.code, 0, o.stdout);
      assert.match(o.stdout, /^complete -o default -F __bpfx_complete bpfx$/m);
      assert.match(o.stdout, /^candidate map$/m, o.stdout);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
