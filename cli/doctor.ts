/**
 * The `doctor` command.
 *
 * @module
 */

import { doctor, libraryLocation } from "../src/doctor.ts";
import { type Io, pairs, printJson, table } from "./output.ts";

/** Flags of `bpfx doctor`. */
export interface DoctorFlags {
  fix?: true | undefined;
  json?: true | undefined;
}

/** `bpfx doctor [--fix]`: checks the machine; exit 1 when a check fails. */
export function doctorCommand(io: Io, flags: DoctorFlags): number {
  const report = doctor({ fix: flags.fix ?? false });
  const code = report.ok ? 0 : 1;
  if (flags.json) {
    printJson(io, report);
    return code;
  }
  const lib = libraryLocation();
  let text = pairs([
    ["kernel", report.kernel],
    ["bpffs", report.bpffs.length ? report.bpffs.join(", ") : "-"],
    ["cgroup2", report.cgroup2 ?? "-"],
    ["core", lib ? `${lib.path} (${lib.source})` : "-"],
  ]);
  text += report.fixed.map((f) => `fixed: ${f}\n`).join("");
  text += "\n";
  text += table(
    [{ header: "CHECK" }, { header: "STATUS" }, { header: "DETAIL" }],
    report.checks.map((c) => [c.name, c.ok ? "ok" : "FAIL", c.detail]),
  );
  const failed = report.checks.filter((c) => !c.ok);
  if (failed.length > 0) {
    text += "\n";
    for (const c of failed) {
      text += `fix ${c.name}: ${c.fix ?? "no automatic fix"}\n`;
    }
  }
  io.out(text);
  return code;
}
