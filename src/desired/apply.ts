/**
 * The apply of desired state: {@linkcode apply} takes the actions of the
 * plan (`plan.ts`) with the API's own calls (`load()`, `createView()`,
 * `attach()`, `attachLink()`, `expose()`, `BpfMap.set()`), recording in the
 * manifest what the file makes before it makes it, and forgetting it only
 * once it is gone, so a crash leaves nothing made that no file owns.
 *
 * @module
 */

import { BpfError } from "../errors.ts";
import { load } from "../objects.ts";
import { ls, unpin } from "../pins.ts";
import { openMap } from "../handles.ts";
import { attach, createView, detach } from "../views.ts";
import { attachLink } from "../links.ts";
import { expose, unexpose } from "../expose.ts";
import { under } from "./check.ts";
import {
  type Entry,
  key,
  mapPin,
  type OwnedEntry,
  type PlanOptions,
  record,
  steps,
  strip,
} from "./plan.ts";
import type { DesiredPlan, DesiredState, DesiredValue } from "./types.ts";

function prune(e: Entry, drop: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(e).filter(([k, v]) => !drop.includes(k) && v !== undefined),
  );
}

/** Removes what an owned entry made; what is already gone is fine. */
async function unmake(o: OwnedEntry, state: string): Promise<void> {
  const spec = o.spec as Record<string, string | undefined>;
  if (o.kind === "exposure") {
    for (const path of o.paths) {
      try {
        unexpose(path, { state });
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    return;
  }
  if (o.kind === "rule") {
    await detach({
      pinRoot: String(spec.pinRoot),
      ...(spec.exposeRoot === undefined ? {} : { exposeRoot: spec.exposeRoot }),
      name: o.name,
      state,
    });
    dropEmpty(String(spec.pinRoot));
    return;
  }
  for (const pin of o.pins) {
    try {
      unpin(pin);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  if (o.kind === "object") dropEmpty(String(spec.pinDir));
}

/**
 * Removes the bpffs directory `dir` (an object's pin directory, a rule's
 * pin root) when no pin is left under it: one that is not ours stays.
 */
function dropEmpty(dir: string): void {
  try {
    if (ls(dir).length === 0) unpin(dir, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Makes the host match the desired state `d`, in dependency order:
 * removals first (exposures, links, rules, views, then objects), then
 * objects, maps, views, rules, links and exposures. Each entry is recorded
 * in the manifest (under the state directory's lock) before it is made, and
 * forgotten only once it is removed, so a crash at any point leaves the
 * next `plan` naming exactly what is left. Returns the actions taken; a
 * second apply finds them all `keep`.
 *
 * Needs what {@linkcode plan} needs.
 *
 * @throws {BpfError} of kind `exists` (op `apply`) before anything is made
 * when an entry is in the way of something this file did not make.
 */
export async function apply(
  d: DesiredState,
  options: PlanOptions = {},
): Promise<DesiredPlan> {
  const { state, checked, steps: all } = steps(d, options);
  const blocked = all.find((s) => s.action === "left-alone");
  if (blocked !== undefined) {
    throw new BpfError(
      `Cannot apply "${d.name}": ${blocked.kind} "${blocked.name}": ${blocked.why}`,
      { kind: "exists", op: "apply", errno: 17 },
    );
  }
  for (const s of all) {
    if (s.action === "keep") continue;
    if (s.action === "remove") {
      await unmake(s.owned!, state);
      record(state, d.name, [], [[s.kind, s.name]]);
      continue;
    }
    const e = s.entry!;
    const base = {
      kind: s.kind,
      name: s.name,
      spec: JSON.parse(JSON.stringify(e)) as DesiredValue,
      fingerprint: s.fingerprint ?? "",
    };
    if (s.owned !== undefined && s.kind !== "map" && s.kind !== "rule") {
      await unmake(s.owned, state);
    }
    const program = checked.programs.get(key(s.kind, s.name))?.pin ?? "";
    if (s.kind === "object") {
      const o = e as unknown as NonNullable<DesiredState["objects"]>[number];
      const spec = checked.objects.get(o.name)!;
      const expected = [
        ...spec.programs.filter((p) =>
          o.only === undefined ? p.autoload : o.only.includes(p.name)
        ).map((p) => under(o.pinDir, p.name)),
        ...spec.maps.filter((m) => m.pinning === "none").map((m) =>
          under(under(o.pinDir, "maps"), m.name)
        ),
      ];
      record(state, d.name, [{ ...base, pins: expected, paths: [] }]);
      const report = load(o.path, prune(e, ["name", "path"]) as never);
      const pins = [
        ...report.programs.map((p) => p.path),
        ...report.maps.filter((m) => !m.reused).map((m) => m.path),
      ];
      record(state, d.name, [{ ...base, pins, paths: [] }]);
    } else if (s.kind === "map") {
      record(state, d.name, [{ ...base, pins: [], paths: [] }]);
      const m = e as unknown as NonNullable<DesiredState["maps"]>[number];
      using map = openMap(mapPin(d, m));
      for (const { key: k, value } of m.entries) map.set(k, value);
    } else if (s.kind === "view") {
      const pin = String(e.pin);
      record(state, d.name, [{ ...base, pins: [pin], paths: [] }]);
      const target = (e.target ?? {}) as Record<string, unknown>;
      createView(program, { pin, ...target } as never);
    } else if (s.kind === "link") {
      const pin = String(e.pin);
      record(state, d.name, [{ ...base, pins: [pin], paths: [] }]);
      attachLink(program, prune(e, ["name", "object", "program"]) as never);
    } else if (s.kind === "rule") {
      record(state, d.name, [{ ...base, pins: [], paths: [] }]);
      // A pinned program does not say its attach type: the section does.
      const spec = checked.programs.get(key(s.kind, s.name))?.spec;
      const named = spec?.attachTo === "dev" ? "device" : spec?.attachTo;
      const attachType = e.attachType ??
        (spec !== undefined && spec.attachType !== "trace_iter"
          ? named
          : undefined);
      await attach(program, {
        ...prune(e, ["object", "program"]),
        ...(attachType === undefined ? {} : { attachType }),
        state,
      } as never);
    } else {
      const x = e as unknown as NonNullable<DesiredState["exposures"]>[number];
      record(state, d.name, [{ ...base, pins: [], paths: [x.path] }]);
      expose(x.pin, {
        path: x.path,
        state,
        ...(x.mode === "bind" ? { bind: true } : {}),
      });
    }
  }
  return {
    name: d.name,
    actions: all.map(strip),
    changes: all.some((s) => s.action !== "keep"),
  };
}
