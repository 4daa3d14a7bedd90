// make install and make uninstall: a copy under a versioned prefix that
// works on its own, a hardened unit that systemd-analyze verifies, and
// nothing left after uninstall.
import { assert, kernelTest, privateBpffs, ROOT, run } from "./_kernel.ts";
import { VERSION } from "../mod.ts";

/** Every path below `dir`, with what its symlinks point at. */
async function walk(dir: string, out: string[] = []): Promise<string[]> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    out.push(p);
    if (e.isDirectory) await walk(p, out);
  }
  return out;
}

kernelTest(
  "make install copies bpfx under a versioned prefix that works without the checkout; uninstall removes it",
  async () => {
    const prefix = await Deno.makeTempDir({ prefix: "bpfxinstall-" });
    try {
      // A directory that was there before install: uninstall leaves it.
      await Deno.mkdir(`${prefix}/share`);
      const inst = await run("make", ["-s", "install", `PREFIX=${prefix}`], {
        cwd: ROOT,
      });
      assert.equal(inst.code, 0, inst.stderr);
      const lib = `${prefix}/lib/bpfx/${VERSION}`;
      const bin = `${prefix}/bin/bpfx`;
      assert.equal(await Deno.readLink(bin), `${lib}/bpfx`);
      // A copy: no symlink in it leads back into the checkout.
      for (const p of await walk(prefix)) {
        const real = await Deno.realPath(p);
        assert.ok(
          real.startsWith(`${prefix}/`),
          `${p} resolves to ${real}, outside the prefix`,
        );
      }
      // It runs from anywhere, on its own files.
      const version = await run(bin, ["--version", "--json"], { cwd: "/" });
      assert.equal(version.code, 0, version.stderr);
      assert.deepEqual(JSON.parse(version.stdout), {
        name: "bpfx",
        version: VERSION,
      });
      await using fs = await privateBpffs();
      const ls = await run(bin, ["ls", fs.path, "--json"], {
        cwd: "/",
        env: { BPFX_LIB: "" },
      });
      assert.equal(ls.code, 0, ls.stderr);
      assert.ok(Array.isArray(JSON.parse(ls.stdout)), ls.stdout);
      const doctor = await run(bin, ["doctor", "--json"], { cwd: "/" });
      const report = JSON.parse(doctor.stdout);
      assert.ok(
        String(report.checks.length) !== "0",
        `doctor from the copy: ${doctor.stdout}`,
      );
      // plan reads its file with the yaml and ajv packages: they and their
      // own dependencies are in the copy.
      const aside = await Deno.makeTempDir({ prefix: "bpfxinstall-plan-" });
      try {
        await Deno.writeTextFile(`${aside}/empty.yaml`, "name: empty\n");
        const plan = await run(bin, ["plan", `${aside}/empty.yaml`], {
          cwd: "/",
          env: { BPFX_STATE: `${aside}/state` },
        });
        assert.equal(plan.code, 0, plan.stderr);
        assert.match(plan.stdout, /nothing to do/);
      } finally {
        await Deno.remove(aside, { recursive: true });
      }
      const completions = await run(bin, ["completions", "bash"], {
        cwd: "/",
      });
      assert.equal(completions.code, 0, completions.stderr);
      assert.match(
        completions.stdout,
        /complete -o default -F __bpfx_complete bpfx/,
      );

      // The installed README's links to docs/ hold in share/doc/bpfx.
      const doc = `${prefix}/share/doc/bpfx`;
      const readme = await Deno.readTextFile(`${doc}/README.md`);
      const links = [...readme.matchAll(/\]\((docs\/[^)#]+)(#[^)]*)?\)/g)]
        .map((m) => m[1]!);
      assert.ok(links.length > 0, "the README links no docs/ page");
      for (const link of new Set(links)) {
        assert.equal(
          await Deno.readTextFile(`${doc}/${link}`),
          await Deno.readTextFile(`${ROOT}/${link}`),
          link,
        );
      }

      // The unit names the installed launcher and passes systemd's checks.
      const unit = `${prefix}/lib/systemd/system/bpfx-watch.service`;
      const text = await Deno.readTextFile(unit);
      assert.match(
        text,
        new RegExp(`^ExecStart=${prefix}/bin/bpfx watch`, "m"),
      );
      assert.match(text, /^Type=notify$/m);
      const verify = await run("systemd-analyze", ["verify", unit]);
      assert.equal(verify.code, 0, verify.stderr);
      assert.equal(verify.stderr.trim(), "", verify.stderr);
      const security = await run("systemd-analyze", [
        "security",
        "--offline=yes",
        unit,
      ]);
      const score = security.stdout.match(
        /Overall exposure level for bpfx-watch\.service: ([0-9.]+)/,
      );
      assert.ok(score !== null, security.stdout + security.stderr);
      assert.ok(Number(score[1]) <= 5, `exposure ${score[1]}`);

      const un = await run("make", ["-s", "uninstall", `PREFIX=${prefix}`], {
        cwd: ROOT,
      });
      assert.equal(un.code, 0, un.stderr);
      // Nothing is left but the directory that was there before: the ones
      // install made (bin, lib, lib/systemd, share/doc...) go too.
      assert.deepEqual(await walk(prefix), [`${prefix}/share`]);
    } finally {
      await Deno.remove(prefix, { recursive: true });
    }
  },
  { needs: [] },
);
