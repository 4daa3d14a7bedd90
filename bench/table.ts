// Prints a hyperfine JSON export as a table, each row beside a named peer.
// Usage: deno run -A bench/table.ts RESULTS.json "peer command name"
interface Result {
  command: string;
  mean: number;
  stddev: number | null;
  median: number;
  min: number;
  max: number;
}

const [file, peerName] = Deno.args;
if (!file || !peerName) {
  console.error("usage: table.ts RESULTS.json PEER");
  Deno.exit(2);
}
const { results } = JSON.parse(await Deno.readTextFile(file)) as {
  results: Result[];
};
const peer = results.find((r) => r.command === peerName);
if (!peer) throw new Error(`No result named "${peerName}" in ${file}`);
const ms = (s: number) => (s * 1000).toFixed(1).padStart(8);
console.log(
  `${"command".padEnd(28)} ${"median ms".padStart(9)} ${
    "mean ms".padStart(8)
  } ${"± ms".padStart(8)} ${"min ms".padStart(8)}   vs ${peerName}`,
);
for (const r of results) {
  console.log(
    `${r.command.padEnd(28)} ${ms(r.median).padStart(9)} ${ms(r.mean)} ${
      ms(r.stddev ?? 0)
    } ${ms(r.min)}   ${(r.median / peer.median).toFixed(2)}x`,
  );
}
