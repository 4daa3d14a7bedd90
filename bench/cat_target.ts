// Checks `bpfx cat` against its target: no more than the Deno hello world
// plus 1.2x `cat`, all from one hyperfine run. Prints the figures.
const [file] = Deno.args;
if (!file) throw new Error("usage: cat_target.ts CAT.json");
const { results } = JSON.parse(await Deno.readTextFile(file)) as {
  results: { command: string; median: number }[];
};
const m = (name: string) =>
  results.find((r) => r.command === name)!.median * 1000;
const budget = m("deno hello world") + 1.2 * m("cat");
const got = m("bpfx cat");
console.log(
  `target: bpfx cat ${got.toFixed(1)} ms against hello world + 1.2x cat = ${
    budget.toFixed(1)
  } ms: ${got <= budget ? "met" : "missed"}`,
);
