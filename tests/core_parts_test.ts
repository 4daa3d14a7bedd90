// The check that keeps the core's parts in order (scripts/core_parts_check.ts),
// on the real tree and on small trees made to break it.

import { assert } from "./_assert.ts";
import { breaches, namedParts, partsOf } from "../scripts/core_parts_check.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** A core tree in a temporary directory: `files` maps paths to text. */
async function tree(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "bpfx-parts-" });
  for (const [path, text] of Object.entries(files)) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, text);
  }
  return dir;
}

const LIB =
  "pub mod sys;\npub mod fs;\npub mod kernel;\npub mod doctor;\npub mod error;\n";

Deno.test("breaches() finds none in the core as it is", async () => {
  assert.deepEqual(await breaches(`${ROOT}/core-rs/src`), []);
});

Deno.test("partsOf() reads the parts of lib.rs in order, comments skipped", () => {
  assert.deepEqual(
    partsOf("//! pub mod no;\npub mod sys;\n// pub mod x;\npub mod fs;\n"),
    [
      "sys",
      "fs",
    ],
  );
});

Deno.test("namedParts() sees crate paths and the items of use groups, not comments or tests", () => {
  const text = [
    "use crate::fs::paths;", // line 1
    "use crate::{kernel::info, sys, self};", // line 2
    "// crate::watch in a comment", // line 3
    "/* crate::state */ fn f() {}", // line 4
    "#[cfg(test)]",
    "mod tests { use crate::abi; }",
  ].join("\n");
  assert.deepEqual(namedParts(text), [
    { part: "fs", line: 1 },
    { part: "kernel", line: 2 },
    { part: "sys", line: 2 },
  ]);
});

Deno.test("breaches() names a lower part that uses a higher one, in a path or a group", async () => {
  const dir = await tree({
    "lib.rs": LIB,
    "error.rs": "use crate::sys;\n",
    "doctor.rs": "use crate::kernel::x;\n",
    "sys/mod.rs": "\n",
    "fs/mod.rs": "use crate::{sys, kernel::handles};\n",
    "kernel/mod.rs":
      "use crate::fs::paths;\nfn f() { crate::doctor::privileged(); }\n",
  });
  try {
    const found = await breaches(dir);
    assert.deepEqual(found.length, 2, found.join("\n"));
    assert.ok(
      found[0]!.startsWith(
        "fs/mod.rs:1: fs names crate::kernel, a higher part",
      ),
      found[0],
    );
    assert.ok(
      found[1]!.startsWith("kernel/mod.rs:2: kernel names crate::doctor"),
      found[1],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("breaches() refuses a flat core file, a part without a folder, and error naming more than sys", async () => {
  const dir = await tree({
    "lib.rs": LIB,
    "error.rs": "use crate::fs::paths;\n",
    "doctor.rs": "\n",
    "sys/mod.rs": "\n",
    "kernel/mod.rs": "\n",
    "stray.rs": "\n",
  });
  try {
    const found = await breaches(dir);
    assert.deepEqual(found.sort(), [
      "error.rs:1: error names crate::fs, a higher part (lib.rs: sys < fs < kernel < doctor)",
      "fs: a part of lib.rs without a folder",
      "stray.rs: a core file outside the parts' folders",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
