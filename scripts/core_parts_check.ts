// The core's parts, held against its code (ARCHITECTURE.md, "Parts, from
// the kernel up"): lib.rs declares the parts in order, each part is a folder
// of core-rs/src (doctor and error are files), and no file of a lower part
// names a higher one, through `crate::part` or an item of a `use crate::{...}`
// group. `error` may be named from anywhere and names only `sys`. Test code
// (from the first `#[cfg(test)]` of a file, and files named tests.rs) may
// name any part.
//
// Usage: deno run --allow-read scripts/core_parts_check.ts [SRC]
// (SRC defaults to core-rs/src). Prints each breach with file and line;
// exits 1 if there is any.

/** The parts named by `pub mod` in lib.rs, in order. */
export function partsOf(lib: string): string[] {
  return [...stripComments(lib).matchAll(/^\s*pub mod ([a-z_]+);/gm)].map((
    m,
  ) => m[1]!);
}

/** `text` with its comments blanked, line breaks kept (so lines count). */
export function stripComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "))
    .replace(/\/\/[^\n]*/g, "");
}

/** Each part a file names, with the 1-based line it is named on. */
export function namedParts(text: string): { part: string; line: number }[] {
  const code = stripComments(text);
  const cut = code.indexOf("#[cfg(test)]");
  const live = cut >= 0 ? code.slice(0, cut) : code;
  const lineOf = (i: number) => live.slice(0, i).split("\n").length;
  const out: { part: string; line: number }[] = [];
  for (const m of live.matchAll(/crate::([a-z_]+)/g)) {
    out.push({ part: m[1]!, line: lineOf(m.index!) });
  }
  for (const m of live.matchAll(/crate::\{/g)) {
    // The items at the group's top level: `a`, `b::c`, `d::{e, f}`.
    let depth = 1;
    let item = "";
    let at = m.index! + m[0].length;
    const items: { name: string; at: number }[] = [];
    for (let i = at; i < live.length && depth > 0; i++) {
      const c = live[i]!;
      if (c === "{") depth++;
      if (c === "}") depth--;
      if ((c === "," && depth === 1) || depth === 0) {
        items.push({ name: item.trim(), at });
        item = "";
        at = i + 1;
        continue;
      }
      item += c;
    }
    for (const it of items) {
      const head = /^([a-z_]+)/.exec(it.name);
      if (head && head[1] !== "self") {
        out.push({ part: head[1]!, line: lineOf(it.at) });
      }
    }
  }
  return out;
}

/** Every breach of the parts' order below `src`. */
export async function breaches(src: string): Promise<string[]> {
  const lib = await Deno.readTextFile(`${src}/lib.rs`);
  const parts = partsOf(lib);
  const rank = new Map(parts.map((p, i) => [p, i]));
  const order = parts.filter((p) => p !== "error").join(" < ");
  const out: string[] = [];
  if (!rank.has("sys")) out.push("lib.rs: no `pub mod sys;`");
  const files = new Set(["lib.rs", "error.rs", "doctor.rs"]);
  for await (const e of Deno.readDir(src)) {
    if (e.isFile && e.name.endsWith(".rs") && !files.has(e.name)) {
      out.push(`${e.name}: a core file outside the parts' folders`);
    }
  }
  for (const p of parts) {
    if (p === "error" || p === "doctor") continue;
    try {
      if (!(await Deno.stat(`${src}/${p}`)).isDirectory) throw new Error();
    } catch {
      out.push(`${p}: a part of lib.rs without a folder`);
    }
  }
  // `error` is beneath everything but sys: it names sys alone.
  const allowed = (from: string, to: string): boolean => {
    if (to === "error") return true;
    if (from === "error") return to === "sys";
    return (rank.get(to) ?? -1) <= (rank.get(from) ?? -1);
  };
  for await (const file of rsFiles(src)) {
    const rel = file.slice(src.length + 1);
    const part = rel.split("/")[0]!.replace(/\.rs$/, "");
    if (!rank.has(part) || rel.endsWith("/tests.rs")) continue;
    const text = await Deno.readTextFile(file);
    const seen = new Set<string>();
    for (const { part: to, line } of namedParts(text)) {
      if (!rank.has(to) || to === part || allowed(part, to)) continue;
      const key = `${to}:${line}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(
        `${rel}:${line}: ${part} names crate::${to}, a higher part (lib.rs: ${order})`,
      );
    }
  }
  return out;
}

async function* rsFiles(dir: string): AsyncGenerator<string> {
  const names: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e);
  names.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of names) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* rsFiles(p);
    else if (e.isFile && e.name.endsWith(".rs")) yield p;
  }
}

if (import.meta.main) {
  const src = Deno.args[0] ?? "core-rs/src";
  const found = await breaches(src);
  for (const b of found) console.error(`core parts: ${b}`);
  if (found.length > 0) {
    console.error(
      `core parts: ${found.length} breaches of the parts' order (ARCHITECTURE.md)`,
    );
    Deno.exit(1);
  }
  console.log("core parts: the order of lib.rs holds");
}
