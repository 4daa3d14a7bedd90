// Every error the API throws has a hint that says what to do, or no hint
// field at all: never `hint: undefined`, nor an empty hint. The walk covers
// several kinds, from the core's JSON errors and from the TypeScript side.
import { type AnyBpfError, fromCoreObject } from "../src/errors.ts";
import { BpfError, load, ls, openMap, openProgram } from "../mod.ts";
import {
  assert,
  bpftoolMap,
  caught,
  HELLO,
  kernelTest,
  privateBpffs,
  tempDir,
} from "./_kernel.ts";

/** Checks that `e` has no own field that is `undefined`, and a real hint if any. */
function wellFormed(what: string, e: AnyBpfError): void {
  for (const key of Object.keys(e)) {
    assert.ok(
      (e as unknown as Record<string, unknown>)[key] !== undefined,
      `${what}: field "${key}" is undefined`,
    );
  }
  if ("hint" in e) {
    assert.ok(
      typeof e.hint === "string" && e.hint.trim() !== "",
      `${what}: hint is ${JSON.stringify(e.hint)}`,
    );
  }
  assert.ok(e.message !== "", `${what}: no message`);
}

Deno.test("fromCoreObject() and new BpfError() leave out a null, undefined or empty hint", () => {
  for (const hint of [null, undefined, "", "  "]) {
    const e = fromCoreObject({
      kind: "wrong-kind",
      op: "open",
      errno: 0,
      message: "Cannot open x",
      path: null,
      log: null,
      feature: null,
      hint: hint as string | null,
    });
    assert.ok(!("hint" in e), `hint ${JSON.stringify(hint)} was kept`);
    assert.ok(!("path" in e));
    wellFormed(`hint ${JSON.stringify(hint)}`, e);
    const made = new BpfError("Cannot open x", {
      kind: "invalid",
      op: "open",
      ...(hint === undefined || hint === null ? {} : { hint }),
    });
    assert.ok(!("hint" in made), `hint ${JSON.stringify(hint)} was kept`);
  }
  const e = fromCoreObject({
    kind: "not-bpffs",
    op: "statfs",
    errno: 0,
    message: "Cannot list x",
    path: "/x",
    log: null,
    feature: null,
    hint: "mount a bpffs there",
  });
  assert.equal(e.hint, "mount a bpffs there");
});

kernelTest(
  "errors of several kinds (not-found, wrong-kind, invalid, not-bpffs, elf, exists) have a hint or none, never undefined",
  async () => {
    await using b = await privateBpffs();
    await using t = await tempDir("bpfxerrors-");
    await bpftoolMap(`${b.path}/m`, "type hash key 4 value 8 entries 4 name m");
    await Deno.writeTextFile(`${t.path}/not-elf.o`, "not an ELF file\n");
    load(HELLO, { pinDir: `${b.path}/p`, pinByNameRoot: b.path });
    const cases: [string, string, () => unknown][] = [
      ["a missing pin", "not-found", () => openMap(`${b.path}/nope`)],
      [
        "a map opened as a program",
        "wrong-kind",
        () => openProgram(`${b.path}/m`),
      ],
      [
        "a hash opened as an array",
        "wrong-kind",
        () => openMap(`${b.path}/m`, { type: "array" }),
      ],
      ["a push on a hash", "wrong-kind", () => {
        using m = openMap(`${b.path}/m`);
        m.push(1);
      }],
      ["a depth of 0", "invalid", () => ls(b.path, { depth: 0 })],
      ["a listing off bpffs", "not-bpffs", () => ls(t.path)],
      [
        "an object that is no ELF",
        "elf",
        () =>
          load(`${t.path}/not-elf.o`, {
            pinDir: `${b.path}/q`,
            pinByNameRoot: b.path,
          }),
      ],
      [
        "a second load on the same pins",
        "exists",
        () => load(HELLO, { pinDir: `${b.path}/p`, pinByNameRoot: b.path }),
      ],
    ];
    const kinds = new Set<string>();
    for (const [what, kind, fn] of cases) {
      const e = caught(fn);
      assert.equal(e.kind, kind, `${what}: ${e.message}`);
      kinds.add(e.kind);
      wellFormed(what, e);
    }
    assert.equal(kinds.size, 6);
  },
  { needs: [] },
);
