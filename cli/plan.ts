/**
 * `bpfx plan FILE` and `bpfx apply FILE`: the command table's two entries
 * and their handlers. The desired-state module (and with it the YAML and
 * JSON Schema packages) is imported only when one of them runs.
 *
 * @module
 */

import { type Leaf, leaf } from "./_table.ts";
import { STATE } from "./commands.ts";
import { escapeText, type Io, printJson } from "./output.ts";

/** Flags of `bpfx plan` and `bpfx apply`. */
interface PlanFlags {
  state?: string | undefined;
  json?: true | undefined;
}

/** Runs plan or apply on the file, prints the actions, and gives the exit code. */
async function run(
  io: Io,
  verb: "plan" | "apply",
  file: string,
  flags: PlanFlags,
): Promise<number> {
  const desired = await import("../src/desired/mod.ts");
  const { readDesired } = await import("../src/desired/file.ts");
  const read = readDesired(file);
  const options = {
    checked: read.checked,
    ...(flags.state === undefined ? {} : { state: flags.state }),
  };
  const result = verb === "plan"
    ? await desired.plan(read.desired, options)
    : await desired.apply(read.desired, options);
  if (flags.json) printJson(io, result);
  else {
    const lines = result.actions.map((a) =>
      `${a.action.padEnd(10)} ${a.kind.padEnd(8)} ${escapeText(a.name)}: ${
        escapeText(a.why)
      }`
    );
    const n = result.actions.filter((a) => a.action !== "keep").length;
    lines.push(
      n === 0
        ? "nothing to do"
        : verb === "plan"
        ? `${n} to change`
        : `${n} changed`,
    );
    io.out(lines.join("\n") + "\n");
  }
  return verb === "plan" && result.changes ? 2 : 0;
}

/** `bpfx plan FILE [--state DIR]`. */
export const PLAN: Leaf = leaf({
  name: "plan",
  summary: "compare a desired-state file with the host",
  help:
    "Changes nothing. Exits 0 when nothing would change, 2 when something would, 1 on an error.",
  options: { state: STATE },
  args: [{ name: "file", help: "the desired-state file (YAML or JSON)" }],
  run: ({ io, args: [file], opts }) => run(io, "plan", file, opts),
});

/** `bpfx apply FILE [--state DIR]`. */
export const APPLY: Leaf = leaf({
  name: "apply",
  summary: "make the host match a desired-state file",
  help: "Prints what it did; a second apply finds nothing to do.",
  options: { state: STATE },
  args: [{ name: "file", help: "the desired-state file (YAML or JSON)" }],
  run: ({ io, args: [file], opts }) => run(io, "apply", file, opts),
});
