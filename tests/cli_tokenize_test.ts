// The command line's tokenizer and option parsing: pure, no kernel.
import { COMMANDS } from "../cli.ts";
import { find, type Leaf, type OptionSpec } from "../cli/_table.ts";
import { parseLeaf, tokenize } from "../cli/_tokenize.ts";
import { assert } from "./_assert.ts";

const TABLE: Record<string, OptionSpec> = {
  pin: { type: "string", short: "P", help: "a pin" },
  json: { type: "boolean", short: "j", help: "json" },
  pretty: { type: "boolean", short: "p", help: "pretty" },
};

function opts(words: string[]) {
  return tokenize(words, TABLE).options.map((
    o,
  ) => [o.rawName, o.value ?? null, o.inlineValue]);
}

Deno.test("tokenize: long options, inline and next-word values", () => {
  assert.deepEqual(opts(["--pin=a=b"]), [["--pin", "a=b", true]]);
  assert.deepEqual(opts(["--pin", "x"]), [["--pin", "x", false]]);
  // A value may start with a dash (the Open Group's conventions).
  assert.deepEqual(opts(["--pin", "-j"]), [["--pin", "-j", false]]);
  assert.deepEqual(opts(["--pin"]), [["--pin", null, false]]);
  assert.deepEqual(opts(["--json=1"]), [["--json", "1", true]]);
  assert.deepEqual(opts(["--json", "x"]), [["--json", null, false]]);
  assert.deepEqual(tokenize(["--json", "x"], TABLE).positionals, ["x"]);
});

Deno.test("tokenize: short groups and short values", () => {
  assert.deepEqual(opts(["-jp"]), [["-j", null, false], ["-p", null, false]]);
  assert.deepEqual(opts(["-jPval"]), [["-j", null, false], [
    "-P",
    "val",
    true,
  ]]);
  assert.deepEqual(opts(["-P", "v"]), [["-P", "v", false]]);
  assert.deepEqual(tokenize(["-jp"], TABLE).options.map((o) => o.name), [
    "json",
    "pretty",
  ]);
  // An unknown letter is kept by its letter, for the caller to refuse.
  assert.deepEqual(tokenize(["-x"], TABLE).options[0]?.name, "x");
});

Deno.test("tokenize: positionals, '-', '--' and options after arguments", () => {
  const t = tokenize(["a", "-", "--json", "b", "--", "--pin", "-j"], TABLE);
  assert.deepEqual(t.positionals, ["a", "-", "b", "--pin", "-j"]);
  assert.deepEqual(t.options.map((o) => o.name), ["json"]);
});

/** Parses `bpfx ls WORDS...`. */
function parse(words: string[]) {
  return parseLeaf(["ls"], find(COMMANDS, ["ls"]) as Leaf, words);
}

Deno.test("parseLeaf: usage errors name what was wrong", () => {
  const message = (words: string[]) =>
    assert.throws(() => parse(words)).message;
  assert.deepEqual(message(["--nope"]), "unknown option '--nope'");
  // Only the table's own entries are options, not Object's.
  assert.deepEqual(
    message(["--constructor"]),
    "unknown option '--constructor'",
  );
  assert.deepEqual(
    message(["--json=yes"]),
    "option '-j, --json' takes no value",
  );
  assert.deepEqual(
    message(["--depth"]),
    "option '--depth <n>' argument missing",
  );
  assert.deepEqual(
    message(["a", "b"]),
    "too many arguments for 'ls'. Expected 1 argument but got 2.",
  );
});

Deno.test("parseLeaf: typed values and the default argument", () => {
  const p = parse(["-jp", "--depth", "2"]);
  assert.deepEqual(p.opts.json, true);
  assert.deepEqual(p.opts.pretty, true);
  assert.deepEqual(p.args, ["/sys/fs/bpf"]);
});
