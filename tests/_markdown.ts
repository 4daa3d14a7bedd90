// What the documentation tests read in markdown: the ```ts examples and
// their relative imports, and the relative links and anchors, which must
// resolve (the checker of README.md and docs/*.md).

/** The markdown pages of the checkout: README.md, then docs/*.md by name. */
export function pages(root: string): string[] {
  const docs = [...Deno.readDirSync(`${root}/docs`)]
    .filter((e) => e.isFile && e.name.endsWith(".md"))
    .map((e) => `docs/${e.name}`)
    .sort();
  return ["README.md", ...docs];
}

// `from "./x"`, `from "../x"`, `import "./x"`: a relative module specifier.
const RELATIVE_IMPORT = /\b(from|import)(\s+)(["'])(\.\.?\/[^"']*)\3/g;

/**
 * The ```ts blocks of a page that import a local module by a relative
 * specifier (`./mod.ts` in the README, `../mod.ts` in a page under docs/).
 */
export function examples(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
  );
  return blocks.filter((b) => [...b.matchAll(RELATIVE_IMPORT)].length > 0);
}

/**
 * The page's files: each ```yaml block whose first line is a comment that
 * names it (`# host.yaml: ...`), as [name, text].
 */
export function namedFiles(markdown: string): [string, string][] {
  return [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].flatMap((m) => {
    const name = m[1]!.match(/^# ([\w-]+\.ya?ml)\b/)?.[1];
    return name === undefined ? [] : [[name, m[1]!] as [string, string]];
  });
}

/** The relative specifiers a block imports, each as written. */
export function relativeImports(block: string): string[] {
  return [...block.matchAll(RELATIVE_IMPORT)].map((m) => m[4]!);
}

/**
 * The block with each relative specifier resolved as it is written, from
 * the page at `page` (a file URL): the block can then run from anywhere.
 */
export function localize(block: string, page: URL): string {
  return block.replaceAll(
    RELATIVE_IMPORT,
    (_m, kw: string, sp: string, q: string, spec: string) =>
      `${kw}${sp}${q}${new URL(spec, page).href}${q}`,
  );
}

/** The page's text with its fenced code blocks blanked out (newlines kept). */
function unfenced(markdown: string): string {
  const lines = markdown.split("\n");
  let fence: string | null = null;
  const out = lines.map((line) => {
    const m = line.match(/^\s*(`{3,}|~{3,})/);
    if (fence === null) {
      if (m) {
        fence = m[1]!;
        return "";
      }
      return line;
    }
    if (m && m[1]![0] === fence[0] && m[1]!.length >= fence.length) {
      fence = null;
    }
    return "";
  }).join("\n");
  return out;
}

/**
 * The page's text with fenced code blocks and inline code spans blanked out
 * (newlines kept, so offsets keep their line numbers).
 */
function prose(markdown: string): string {
  return unfenced(markdown).replace(
    /(`+)[\s\S]*?\1/g,
    (s) => s.replace(/[^\n]/g, " "),
  );
}

/** The headings of a page (ATX, outside code), as written. */
export function headings(markdown: string): string[] {
  return unfenced(markdown).split("\n").flatMap((line) => {
    const m = line.match(/^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/);
    return m ? [m[1]!] : [];
  });
}

/**
 * GitHub's anchor for a heading: the text as rendered (code, emphasis and
 * links reduced to their text), lower case, punctuation other than `-` and
 * `_` removed, each space a `-`.
 */
export function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[`*]/g, "")
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a page: its headings' slugs (`-1`, `-2` for repeats) and ids. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const h of headings(markdown)) {
    const base = slug(h);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) {
    out.add(m[1]!);
  }
  return out;
}

/** A link of a page: its 1-based line and its target as written. */
export interface Link {
  line: number;
  target: string;
}

/** The links of a page outside code: inline `[..](target)` and definitions. */
export function links(markdown: string): Link[] {
  const text = prose(markdown);
  const lineOf = (at: number) => text.slice(0, at).split("\n").length;
  const out: Link[] = [];
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) {
    out.push({ line: lineOf(m.index!), target: m[1]! });
  }
  for (const m of text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) {
    out.push({ line: lineOf(m.index!), target: m[1]! });
  }
  return out.sort((a, b) => a.line - b.line);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Each relative link of the pages (paths relative to `root`) that does not
 * resolve, as `page:line: target: why`; an anchor must be a heading (or an
 * id) of the page it points into. Links with a scheme (`https:`) are not
 * followed.
 */
export function brokenLinks(root: string, files: string[]): string[] {
  const texts = new Map<string, string>();
  const read = (path: string): string => {
    let t = texts.get(path);
    if (t === undefined) {
      t = Deno.readTextFileSync(path);
      texts.set(path, t);
    }
    return t;
  };
  const base = new URL(`file://${root}/`);
  const out: string[] = [];
  for (const file of files) {
    const page = new URL(file, base);
    for (const { line, target } of links(read(page.pathname))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) {
        continue;
      }
      const at = `${file}:${line}: ${target}`;
      const hash = target.indexOf("#");
      const path = hash < 0 ? target : target.slice(0, hash);
      const anchor = hash < 0
        ? null
        : decodeURIComponent(target.slice(hash + 1));
      const to = path === "" ? page : new URL(path, page);
      const toPath = decodeURIComponent(to.pathname);
      if (!exists(toPath)) {
        out.push(`${at}: no such file ${toPath}`);
        continue;
      }
      if (anchor === null) continue;
      if (!toPath.endsWith(".md")) {
        out.push(`${at}: an anchor into a file that is not markdown`);
      } else if (!anchors(read(toPath)).has(anchor)) {
        out.push(`${at}: no heading or id "${anchor}" in ${toPath}`);
      }
    }
  }
  return out;
}

/** A ```sh or ```console block of a page. */
export interface ShellBlock {
  readonly lang: "sh" | "console";
  readonly text: string;
}

/** The ```sh and ```console blocks of a page, in order. */
export function shellBlocks(markdown: string): ShellBlock[] {
  return [...markdown.matchAll(/^```(sh|console)\n([\s\S]*?)^```/gm)].map((
    m,
  ) => ({ lang: m[1] as "sh" | "console", text: m[2]! }));
}

/**
 * The commands of a block, each with its continuation lines (a line ending
 * in `\`): of a console block, the `$ ` lines (the rest is output); of a
 * sh block, every line that is not blank or a comment.
 */
export function commandsOf(block: ShellBlock): string[] {
  const out: string[] = [];
  let open = false;
  for (const line of block.text.split("\n")) {
    if (open) {
      out[out.length - 1] += `\n${line}`;
    } else if (block.lang === "console") {
      if (!line.startsWith("$ ")) continue;
      out.push(line.slice(2));
    } else {
      if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
      out.push(line);
    }
    open = line.endsWith("\\");
  }
  return out;
}

/** Whether a command runs bpfx (or a script through deno run). */
export function runsBpfx(command: string): boolean {
  return /(^|[;&|(]\s*|\$\(\s*)bpfx\s/.test(command) ||
    /^deno run\s/.test(command);
}
