// Holes of the second hardening round (issue 25) that a name, a tree or an
// object chooses: cgroup names that are not UTF-8, names bpffs refuses,
// trees deeper than PATH_MAX, escapes bound for root's terminal, and
// externs that ask for more memory than anything holds. Each test makes
// its own bpffs, cgroups and state directory, and removes them in finally.
import {
  assert,
  exists,
  kernelTest,
  privateBpffs,
  ROOT,
  run,
} from "./_kernel.ts";

const HUGE_KCONFIG = `${ROOT}/build/tests/kconfig_huge.bpf.o`;

// ---------------------------------------------------------------------------
// Objects

kernelTest(
  "load of two 4 GiB __kconfig arrays is refused before it allocates them",
  async () => {
    await using b = await privateBpffs();
    // The data limit (1 GiB) makes an allocation of the arrays' size fail
    // (an abort, signal 6) instead of taking the machine's memory; GNU
    // time gives the peak RSS.
    const out = await run("/usr/bin/time", [
      "-f",
      "maxrss_kb=%M",
      "prlimit",
      `--data=${1 << 30}`,
      `${ROOT}/node_modules/.bin/deno`,
      "run",
      "-A",
      `${ROOT}/cli.ts`,
      "load",
      HUGE_KCONFIG,
      "--pin",
      `${b.path}/obj`,
      "--pin-by-name-root",
      b.path,
    ]);
    const rss = Number(/maxrss_kb=(\d+)/.exec(out.stderr)?.[1]);
    console.log(`load of the 4 GiB kconfig arrays: peak RSS ${rss} kB`);
    assert.ok(!/memory allocation|signal/.test(out.stderr), out.stderr);
    assert.equal(out.code, 1, out.stderr);
    assert.match(
      out.stderr,
      /extern "CONFIG_BPFX_HUGE_A" \(kconfig\) is 4294967295 bytes, past the 1048576 bytes/,
    );
    assert.ok(rss > 0 && rss < 256 * 1024, `peak RSS ${rss} kB`);
    assert.ok(!(await exists(`${b.path}/obj`)), "nothing is pinned");
  },
  { needs: [] },
);
