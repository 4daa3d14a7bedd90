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
import { DEFAULT_BPFFS, ls, renamePin, unpin } from "../pins.ts";
import { openMap } from "../handles.ts";
import { attach, createView, detach } from "../views.ts";
import { attachLink, updateLink } from "../links.ts";
import { expose, unexpose } from "../expose.ts";
import { type DesiredChecks, STAGED, under } from "./check.ts";
import {
  canon,
  type Entry,
  info,
  key,
  mapPin,
  type OwnedEntry,
  type PlanOptions,
  record,
  type Step,
  steps,
  strip,
} from "./plan.ts";
import { holdState } from "../state.ts";
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

/** Unpins `pin` (a directory with what is under it); one that is gone is fine. */
function unpinQuiet(pin: string, recursive = false): void {
  try {
    unpin(pin, { recursive });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

type ObjectEntry = NonNullable<DesiredState["objects"]>[number];

/**
 * The pins a load of `o` makes: its programs and own maps under `dir` (its
 * pinDir, or a staging one), and the maps pinned by name that are not
 * there yet (the load makes them, so they are this file's).
 */
function expectedPins(
  o: ObjectEntry,
  checked: DesiredChecks,
  dir: string,
): string[] {
  const spec = checked.objects.get(o.name)!;
  const progs = spec.programs.filter((p) =>
    o.only === undefined ? p.autoload : o.only.includes(p.name)
  );
  const used = new Set(progs.flatMap((p) => p.maps));
  const root = o.pinByNameRoot ?? DEFAULT_BPFFS;
  const pinned = (m: { name: string }) =>
    o.only === undefined || used.has(m.name);
  // As the load names them: bpffs refuses '.', each becomes '_'.
  const name = (n: string) => n.replaceAll(".", "_");
  return [
    ...progs.map((p) => under(dir, name(p.name))),
    ...spec.maps.filter((m) => m.pinning === "none" && pinned(m)).map((m) =>
      under(under(dir, "maps"), name(m.name))
    ),
    ...spec.maps.filter((m) => m.pinning === "by-name" && pinned(m)).map((
      m,
    ) => under(root, name(m.name))).filter((p) => info(p) === undefined),
  ];
}

/** What apply takes for one step: the file's name, the state, the checks. */
interface Ctx {
  readonly file: string;
  readonly state: string;
  readonly checked: DesiredChecks;
}

type Base = Omit<OwnedEntry, "pins" | "paths">;

/**
 * Loads object `o` afresh. With nothing of it there, straight into its
 * pinDir. Else into its staging directory `<pinDir>/%next`, whose pins are
 * then renamed over the old ones one by one (`renameat2`: each pin names
 * the old object or the new one, never nothing), and the old pins the new
 * load lacks go. The old programs keep running on their links until those
 * are moved. The entry keeps its old fingerprint until the end, so a crash
 * leaves it `replace` for the next plan, its staging pins owned.
 */
function loadObject(c: Ctx, s: Step, base: Base, o: ObjectEntry): void {
  const opts = prune(s.entry!, ["name", "path"]);
  const old = s.owned;
  if (old === undefined) {
    const pins = expectedPins(o, c.checked, o.pinDir);
    record(c.state, c.file, [{ ...base, pins, paths: [] }]);
    const report = load(o.path, opts as never);
    record(c.state, c.file, [{ ...base, pins: loaded(report), paths: [] }]);
    return;
  }
  const next = under(o.pinDir, STAGED);
  const staged = expectedPins(o, c.checked, next);
  const kept = old.pins.filter((p) => !p.startsWith(`${next}/`));
  record(c.state, c.file, [{
    ...old,
    pins: [...kept, ...staged],
  }]);
  unpinQuiet(next, true);
  const report = load(o.path, { ...opts, pinDir: next } as never);
  const pins: string[] = [];
  // A map pinned by name is ours when this load made it, or the one it
  // reused was ours; it is not staged.
  for (const m of report.maps) {
    if (m.pinning !== "by-name") continue;
    if (!m.reused || kept.includes(m.path)) pins.push(m.path);
  }
  const movedIn = [
    ...report.programs.map((p) => p.path),
    ...report.maps.filter((m) => m.pinning !== "by-name").map((m) => m.path),
  ];
  for (const from of movedIn) {
    if (!from.startsWith(`${next}/`)) {
      throw new BpfError(
        `Cannot replace object "${o.name}": the load pinned "${from}", not under "${next}"`,
        { kind: "internal", op: "apply" },
      );
    }
    const to = under(o.pinDir, from.slice(next.length + 1));
    renamePin(from, to, { parents: true });
    pins.push(to);
  }
  for (const p of kept) if (!pins.includes(p)) unpinQuiet(p);
  unpinQuiet(next, true);
  record(c.state, c.file, [{ ...base, pins, paths: [] }]);
}

function loaded(report: ReturnType<typeof load>): string[] {
  return [
    ...report.programs.map((p) => p.path),
    ...report.maps.filter((m) => !m.reused).map((m) => m.path),
  ];
}

/**
 * Makes the view or link of step `s` at its pin, and returns what the file
 * owns then (for the caller to record with others in one write). A pin of
 * ours already there is replaced without a gap: moved onto the new program
 * in one step (`BPF_LINK_UPDATE`) when only its program changed and the
 * link type takes it; else the new one is made at `<pin>%next` and renamed
 * over the old, which goes only then (so for a moment both run: an event
 * may be counted twice, none is missed). `preRecord` recorded the entry
 * before: a create with its pin, a replace with its old spec and both pins.
 */
function makePinned(
  s: Step,
  base: Base,
  program: string,
  make: (pin: string) => void,
): OwnedEntry {
  const pin = String(s.entry!.pin);
  const next = `${pin}${STAGED}`;
  const done = { ...base, pins: [pin], paths: [] };
  // What the entry had elsewhere (its pin moved) goes once the new is made.
  const elsewhere = (s.owned?.pins ?? []).filter((p) =>
    p !== pin && p !== next
  );
  const now = s.owned === undefined ? undefined : info(pin);
  if (now === undefined || now.kind !== "link") {
    if (s.owned !== undefined) {
      unpinQuiet(pin);
      unpinQuiet(next);
    }
    make(pin);
    for (const p of elsewhere) unpinQuiet(p);
    return done;
  }
  if (
    s.owned !== undefined && canon(s.owned.spec) === canon(base.spec) &&
    info(next) === undefined
  ) {
    try {
      updateLink(pin, program);
      return done;
    } catch (error) {
      // Not a type that moves (perf events, tracing, ...), or a program
      // the link cannot take: make before break instead.
      if (!(error instanceof BpfError)) throw error;
      if (error.kind !== "not-supported" && error.kind !== "invalid") {
        throw error;
      }
    }
  }
  unpinQuiet(next);
  make(next);
  renamePin(next, pin);
  for (const p of elsewhere) unpinQuiet(p);
  return done;
}

/**
 * Makes the host match the desired state `d`, in dependency order:
 * removals first (exposures, links, rules, views, then objects), then
 * objects, maps, views, rules, links and exposures. The state directory's
 * lock is held for the whole apply (the plan included), so the watcher and
 * other commands wait for it. Each entry is recorded in the manifest
 * before it is made, and forgotten only once it is removed, so a crash at
 * any point leaves the next `plan` naming exactly what is left, and
 * nothing made that no file owns. An object whose file changed is loaded
 * anew beside the old one and renamed into place, and every link of this
 * file that uses its programs is moved onto the new ones with no moment
 * where its hook is empty (see `docs/desired-state.md` for the link types
 * that do not take `BPF_LINK_UPDATE`: for those the new link is made before
 * the old one goes). Returns the actions taken; a second apply finds them
 * all `keep`.
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
  using _held = holdState(options);
  const { state, checked, steps: all } = steps(d, options);
  const blocked = all.find((s) => s.action === "left-alone");
  if (blocked !== undefined) {
    throw new BpfError(
      `Cannot apply "${d.name}": ${blocked.kind} "${blocked.name}": ${blocked.why}`,
      { kind: "exists", op: "apply", errno: 17 },
    );
  }
  const c: Ctx = { file: d.name, state, checked };
  preRecord(c, all);
  /**
   * Views and links unpinned, and made: forgotten and recorded in one
   * write before a step of another kind, and at the end.
   */
  let gone: [string, string][] = [];
  let made: OwnedEntry[] = [];
  const forget = () => {
    if (gone.length > 0 || made.length > 0) record(state, d.name, made, gone);
    gone = [];
    made = [];
  };
  for (const s of all) {
    if (s.action === "keep") continue;
    if (s.action === "remove") {
      await unmake(s.owned!, state);
      if (s.kind === "view" || s.kind === "link") {
        // A crash before the write leaves each recorded, its pin gone:
        // the next plan names it, and apply forgets it.
        gone.push([s.kind, s.name]);
      } else {
        forget();
        record(state, d.name, [], [[s.kind, s.name]]);
      }
      continue;
    }
    if (s.kind !== "view" && s.kind !== "link") forget();
    const e = s.entry!;
    const base: Base = {
      kind: s.kind,
      name: s.name,
      spec: JSON.parse(JSON.stringify(e)) as DesiredValue,
      fingerprint: s.fingerprint ?? "",
    };
    if (s.owned !== undefined && s.kind === "exposure") {
      await unmake(s.owned, state);
    }
    const program = checked.programs.get(key(s.kind, s.name))?.pin ?? "";
    if (s.kind === "object") {
      loadObject(c, s, base, e as unknown as ObjectEntry);
    } else if (s.kind === "map") {
      record(state, d.name, [{ ...base, pins: [], paths: [] }]);
      const m = e as unknown as NonNullable<DesiredState["maps"]>[number];
      using map = openMap(mapPin(d, m));
      for (const { key: k, value } of m.entries) map.set(k, value);
    } else if (s.kind === "view") {
      const target = (e.target ?? {}) as Record<string, unknown>;
      made.push(makePinned(s, base, program, (pin) => {
        createView(program, { ...target, pin } as never);
      }));
    } else if (s.kind === "link") {
      const opts = prune(e, ["name", "object", "program"]);
      made.push(makePinned(s, base, program, (pin) => {
        attachLink(program, { ...opts, pin } as never);
      }));
    } else if (s.kind === "rule") {
      record(state, d.name, [{ ...base, pins: [], paths: [] }]);
      // A pinned program does not say its attach type: the section does.
      // attach() moves the rule's links onto the program as it is now.
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
        waitForRoot: true,
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
  forget();
  return {
    name: d.name,
    actions: all.map(strip),
    changes: all.some((s) => s.action !== "keep"),
  };
}

/**
 * Records at once every view and link the apply will make (their pins are
 * known before they are made): one write of the manifest for a thousand
 * views, not one or two each. A create is recorded with its pin; a replace
 * with its old spec and its pin and staged pin (`<pin>%next`), so that
 * until the new one is recorded, after it is made, the next plan still
 * names it. A crash before one is made leaves it recorded with its pin
 * missing, or with its old spec, which the next plan names.
 */
function preRecord(c: Ctx, all: readonly Step[]): void {
  const put: OwnedEntry[] = all.filter((s) =>
    (s.action === "create" || s.action === "replace") &&
    (s.kind === "view" || s.kind === "link")
  ).map((s) => {
    const pin = String(s.entry!.pin);
    return s.owned === undefined
      ? {
        kind: s.kind,
        name: s.name,
        spec: JSON.parse(JSON.stringify(s.entry)) as DesiredValue,
        fingerprint: "",
        pins: [pin],
        paths: [],
      }
      : {
        ...s.owned,
        pins: [
          ...new Set([...s.owned.pins, pin, `${pin}${STAGED}`]),
        ],
      };
  });
  if (put.length > 0) record(c.state, c.file, put);
}
