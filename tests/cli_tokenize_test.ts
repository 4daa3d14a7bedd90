// The command line's tokenizer and option parsing: pure, no kernel.
import { COMMANDS } from "../cli.ts";
import { find, type Leaf, type OptionSpec } from "../cli/_table.ts";
import { parseLeaf, tokenize } from "../cli/_tokenize.ts";
import { closest, didYouMean, editDistance } from "../cli/_suggest.ts";
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

Deno.test("tokenize: a negative number is an argument, unless the table has it as a short option", () => {
  const t = tokenize(["42", "-1", "-0x10", "-2.5", "-1e3", "-.5", "-j"], TABLE);
  assert.deepEqual(t.positionals, ["42", "-1", "-0x10", "-2.5", "-1e3", "-.5"]);
  assert.deepEqual(t.options.map((o) => o.name), ["json"]);
  // Not numbers: options as before.
  assert.deepEqual(
    tokenize(["-1x", "-e5"], TABLE).options.map((o) => o.rawName),
    ["-1", "-x", "-e", "-5"],
  );
  // A value still takes the next word, a negative number or not.
  assert.deepEqual(opts(["-P", "-1"]), [["-P", "-1", false]]);
  // A table with a digit for a short option keeps it.
  const digit = tokenize(["-1"], {
    one: { type: "boolean", short: "1", help: "" },
  });
  assert.deepEqual([digit.positionals, digit.options.map((o) => o.name)], [[], [
    "one",
  ]]);
});

Deno.test("parseLeaf: map set PIN KEY -1 takes -1 as the value", () => {
  const set = find(COMMANDS, ["map", "set"]) as Leaf;
  const p = parseLeaf(["map", "set"], set, ["/x", "42", "-1"]);
  assert.deepEqual(p.args.slice(0, 3), ["/x", "42", "-1"]);
});

Deno.test("editDistance and closest: only close matches, nearest first", () => {
  assert.equal(editDistance("attach", "atach"), 1);
  assert.equal(editDistance("show", "shwo"), 1); // a swap is one step
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.deepEqual(closest("atach", ["attach", "detach", "cat"]), ["attach"]);
  assert.deepEqual(closest("frob", ["run", "show", "load"]), []);
  assert.deepEqual(closest("--pin-rot", ["--pin-root", "--pin"]), [
    "--pin-root",
  ]);
  assert.deepEqual(closest("pet", ["get", "set", "peek"]), ["get", "set"]);
  // The word itself is no suggestion.
  assert.deepEqual(closest("ls", ["ls"]), []);
  assert.equal(didYouMean("atach", ["attach"]), "; did you mean 'attach'?");
  assert.equal(didYouMean("frob", ["attach"]), "");
});
