// The TypeScript side's import rules, checked from the sources (no
// dependencies; `deno run --allow-read scripts/ts_imports_check.ts`):
//
// (a) the API (mod.ts and src/) never imports the CLI (cli.ts, cli/);
// (b) the CLI never imports src/ffi.ts: it calls the core through the API;
// (c) no two files of src/ import each other, directly or round a circle,
//     counting type-only imports (`import type`, `export type ... from`).
//
// Imports are read from the code with comments, template literals and
// regular expressions blanked out, so the examples in doc comments do not
// count. Exits 1 naming each file that breaks a rule.

const ROOT = new URL("../", import.meta.url);

/** The repository's path of `url` (`src/maps/mod.ts`). */
function rel(url: URL): string {
  return decodeURIComponent(url.pathname.slice(ROOT.pathname.length));
}

/** The `.ts` files under `dir` (a path relative to the root), sorted. */
async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) out.push(...await tsFiles(`${path}/`));
    else if (entry.isFile && entry.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

const REGEX_AFTER = new Set("(,=:[!&|?{};+-*%<>~^".split(""));
const REGEX_AFTER_WORD = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/**
 * `src` with its comments, template literal text and regular expression
 * literals replaced by spaces (line ends kept); quoted strings stay.
 */
export function codeOf(src: string): string {
  const blank = (s: string) => s.replace(/[^\n]/g, " ");
  const out: string[] = [];
  /** The brace depths at which open `${` substitutions started. */
  const substitutions: number[] = [];
  let depth = 0;
  let inTemplate = false;
  let last = "";
  let lastWord = "";
  let i = 0;
  while (i < src.length) {
    if (inTemplate) {
      let j = i;
      while (j < src.length && src[j] !== "`") {
        if (src[j] === "\\") j++;
        else if (src[j] === "$" && src[j + 1] === "{") break;
        j++;
      }
      out.push(blank(src.slice(i, j)));
      inTemplate = false;
      if (src[j] === "`") {
        out.push("`");
        i = j + 1;
        last = "`";
      } else if (j < src.length) {
        out.push("${");
        substitutions.push(depth++);
        i = j + 2;
        last = "{";
      } else {
        i = j;
      }
      continue;
    }
    const c = src[i]!;
    const next = src[i + 1];
    if (c === "/" && next === "/") {
      const end = src.indexOf("\n", i);
      const stop = end === -1 ? src.length : end;
      out.push(blank(src.slice(i, stop)));
      i = stop;
    } else if (c === "/" && next === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end === -1 ? src.length : end + 2;
      out.push(blank(src.slice(i, stop)));
      i = stop;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== c && src[j] !== "\n") {
        if (src[j] === "\\") j++;
        j++;
      }
      out.push(src.slice(i, j + 1));
      i = j + 1;
      last = c;
    } else if (c === "`") {
      out.push(c);
      i++;
      inTemplate = true;
    } else if (
      c === "/" &&
      (last === "" || REGEX_AFTER.has(last) ||
        (last === "w" && REGEX_AFTER_WORD.has(lastWord)))
    ) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length && src[j] !== "\n") {
        if (src[j] === "\\") j++;
        else if (src[j] === "[") inClass = true;
        else if (src[j] === "]") inClass = false;
        else if (src[j] === "/" && !inClass) break;
        j++;
      }
      j++;
      while (j < src.length && /[a-z]/i.test(src[j]!)) j++;
      out.push(blank(src.slice(i, j)));
      i = j;
      last = "w";
      lastWord = "";
    } else if (/[\w$]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[\w$]/.test(src[j]!)) j++;
      lastWord = src.slice(i, j);
      last = "w";
      out.push(lastWord);
      i = j;
    } else {
      if (c === "{") depth++;
      if (c === "}") {
        depth--;
        if (substitutions.at(-1) === depth) {
          substitutions.pop();
          out.push(c);
          i++;
          inTemplate = true;
          continue;
        }
      }
      if (!/\s/.test(c)) last = c;
      out.push(c);
      i++;
    }
  }
  return out.join("");
}

const STATIC =
  /(?<![\w$.])(?:import|export)\s+(?:type\s+)?(?:[\w$*{},\s]*?\s*from\s*)?(["'])([^"'\n]+)\1/g;
const DYNAMIC = /(?<![\w$.])import\s*\(\s*(["'])([^"'\n]+)\1\s*[,)]/g;

/** The files of the repository that `file` imports (relative specifiers). */
export function importsOf(file: string, src: string): string[] {
  const code = codeOf(src);
  const base = new URL(file, ROOT);
  const found = new Set<string>();
  for (const re of [STATIC, DYNAMIC]) {
    for (const m of code.matchAll(re)) {
      const spec = m[2]!;
      if (!spec.startsWith("./") && !spec.startsWith("../")) continue;
      found.add(rel(new URL(spec, base)));
    }
  }
  return [...found].sort();
}

/**
 * The circles of `graph`: for each strongly connected part, one circle
 * through it (a path back to its first file) and the part's files.
 */
export function cycles(
  graph: Map<string, string[]>,
): { circle: string[]; files: string[] }[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const parts: string[][] = [];
  let counter = 0;
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const part: string[] = [];
      let w;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        part.push(w);
      } while (w !== v);
      if (part.length > 1 || (graph.get(v) ?? []).includes(v)) {
        parts.push(part);
      }
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return parts.map((part) => ({
    circle: circleThrough(graph, part),
    files: [...part].sort(),
  }));
}

/** A shortest circle from the first file of `part` back to it. */
function circleThrough(graph: Map<string, string[]>, part: string[]): string[] {
  const inside = new Set(part);
  const start = [...part].sort()[0]!;
  const from = new Map<string, string>();
  const queue = [start];
  for (let k = 0; k < queue.length; k++) {
    const v = queue[k]!;
    for (const w of graph.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = from.get(u)!) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...part, part[0]!];
}

async function main(): Promise<number> {
  const api = ["mod.ts", ...await tsFiles("src/")];
  const cli = ["cli.ts", ...await tsFiles("cli/")];
  const imports = new Map<string, string[]>();
  for (const file of [...api, ...cli]) {
    imports.set(
      file,
      importsOf(file, await Deno.readTextFile(new URL(file, ROOT))),
    );
  }
  const problems: string[] = [];
  const isCli = (f: string) => f === "cli.ts" || f.startsWith("cli/");
  for (const file of api) {
    for (const dep of imports.get(file)!) {
      if (isCli(dep)) {
        problems.push(`${file} imports ${dep}: the API never imports the CLI`);
      }
    }
  }
  for (const file of cli) {
    if (imports.get(file)!.includes("src/ffi.ts")) {
      problems.push(
        `${file} imports src/ffi.ts: the CLI calls the core through the API`,
      );
    }
  }
  const src = new Map<string, string[]>();
  for (const file of api) {
    if (!file.startsWith("src/")) continue;
    src.set(file, imports.get(file)!.filter((d) => d.startsWith("src/")));
  }
  for (const { circle, files } of cycles(src)) {
    const more = files.length > circle.length - 1
      ? ` (the files in circles with it: ${files.join(", ")})`
      : "";
    problems.push(
      `import circle among src/ files: ${circle.join(" -> ")}${more}`,
    );
  }
  if (problems.length > 0) {
    for (const p of problems) console.error(`ts imports check: ${p}`);
    return 1;
  }
  console.log(
    `ts imports check: ${
      api.length + cli.length
    } files; the API imports no CLI file, the CLI no src/ffi.ts, and src/ has no import circle`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main());
