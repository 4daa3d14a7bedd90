/**
 * The object commands: `inspect` and `load`.
 *
 * @module
 */

import { inspect, load, type LoadOptions } from "../src/objects.ts";
import { type Io, pairs, printJson, table } from "./output.ts";

/** Flags of `bpfx inspect`. */
export interface InspectFlags {
  maxObjectSize?: number | undefined;
  json?: true | undefined;
}

function dash(value: string | number | null): string {
  return value === null || value === "" ? "-" : String(value);
}

/** `bpfx inspect OBJ`: what a BPF ELF object describes. */
export function inspectCommand(
  io: Io,
  object: string,
  flags: InspectFlags,
): number {
  const spec = inspect(
    object,
    flags.maxObjectSize === undefined
      ? {}
      : { maxObjectSize: flags.maxObjectSize },
  );
  if (flags.json) {
    printJson(io, spec);
    return 0;
  }
  let text = pairs([
    ["object", spec.path],
    ["license", dash(spec.license)],
    ["kernel version", dash(spec.kernelVersion)],
    ["btf", spec.btf ? "yes" : "no"],
    ["btf.ext", spec.btfExt ? "yes" : "no"],
  ]);
  text += "\n";
  text += spec.programs.length === 0 ? "No programs\n" : table(
    [
      { header: "PROGRAM" },
      { header: "SECTION" },
      { header: "TYPE" },
      { header: "ATTACH" },
      { header: "TARGET" },
      { header: "INSNS", align: "right" },
      { header: "LOAD" },
    ],
    spec.programs.map((p) => [
      p.name,
      p.section,
      p.type,
      dash(p.attachType),
      dash(p.attachTo),
      String(p.instructions),
      p.unsupported !== null ? "unsupported" : p.autoload ? "yes" : "optional",
    ]),
  );
  for (const p of spec.programs) {
    if (p.unsupported !== null) {
      text +=
        `note: "${p.name}" (section "${p.section}") is unsupported: ${p.unsupported}\n`;
    }
  }
  text += "\n";
  text += spec.maps.length === 0 ? "No maps\n" : table(
    [
      { header: "MAP" },
      { header: "SECTION" },
      { header: "TYPE" },
      { header: "KEY", align: "right" },
      { header: "VALUE", align: "right" },
      { header: "MAX", align: "right" },
      { header: "FLAGS", align: "right" },
      { header: "PINNING" },
    ],
    spec.maps.map((m) => [
      m.name,
      m.section,
      m.type,
      String(m.keySize),
      String(m.valueSize),
      String(m.maxEntries),
      `0x${m.flags.toString(16)}`,
      m.pinning,
    ]),
  );
  if (spec.externs.length > 0) {
    text += "\n";
    text += table(
      [
        { header: "EXTERN" },
        { header: "KIND" },
        { header: "WEAK" },
        { header: "FOUND" },
        { header: "RESOLVES TO" },
      ],
      spec.externs.map((e) => [
        e.name,
        e.kind,
        e.weak ? "yes" : "no",
        e.found ? "yes" : "no",
        e.btfId !== undefined ? `btf id ${e.btfId}` : e.address ?? e.value ??
          (e.weak ? `0 (${e.why ?? "not found"})` : e.why ?? "-"),
      ]),
    );
  }
  io.out(text);
  return 0;
}

/** Flags of `bpfx load`. */
export interface LoadFlags {
  pin: string;
  pinByNameRoot?: string | undefined;
  only?: string[] | undefined;
  maxObjectSize?: number | undefined;
  json?: true | undefined;
}

/** `bpfx load OBJ --pin DIR`: loads an object and pins it. */
export function loadCommand(io: Io, object: string, flags: LoadFlags): number {
  const options: LoadOptions = { pinDir: flags.pin };
  if (flags.pinByNameRoot !== undefined) {
    options.pinByNameRoot = flags.pinByNameRoot;
  }
  if (flags.only !== undefined) options.only = flags.only;
  if (flags.maxObjectSize !== undefined) {
    options.maxObjectSize = flags.maxObjectSize;
  }
  const report = load(object, options);
  if (flags.json) {
    printJson(io, report);
    return 0;
  }
  let text = "";
  if (report.programs.length > 0) {
    text += table(
      [
        { header: "PROGRAM" },
        { header: "ID", align: "right" },
        { header: "TYPE" },
        { header: "TAG" },
        { header: "PIN" },
      ],
      report.programs.map((p) => [p.name, String(p.id), p.type, p.tag, p.path]),
    );
  }
  if (report.maps.length > 0) {
    if (text) text += "\n";
    text += table(
      [
        { header: "MAP" },
        { header: "ID", align: "right" },
        { header: "TYPE" },
        { header: "PINNING" },
        { header: "REUSED" },
        { header: "PIN" },
      ],
      report.maps.map((m) => [
        m.name,
        String(m.id),
        m.type,
        m.pinning,
        m.reused ? "yes" : "no",
        m.path,
      ]),
    );
  }
  for (const r of report.renamed) {
    text += `${
      text ? "\n" : ""
    }note: pinned "${r.from}" as "${r.to}": ${r.why}\n`;
  }
  io.out(
    text ||
      `Loaded "${report.object}" into "${report.pinDir}": nothing to pin\n`,
  );
  return 0;
}
