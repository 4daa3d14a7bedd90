/**
 * The plan of desired state: {@linkcode plan} compares a desired state
 * with the host (the kernel and bpffs through `show()`, the manifest's
 * rules, exposures and what each file made) and says, for each entry,
 * create, replace, keep or remove, and why. `apply.ts` takes those
 * actions.
 *
 * @module
 */

import { call } from "../_call.ts";
import { type ObjectInfo, show } from "../pins.ts";
import { openMap } from "../handles.ts";
import { exposures, readManifest } from "../expose.ts";
import { stateDir, type StateOptions } from "../state.ts";
import { check, type DesiredChecks, LISTS, STAGED, under } from "./check.ts";
import { sha256 } from "./_bytes.ts";
import { waitingFor } from "./_roots.ts";
import type {
  DesiredAction,
  DesiredKind,
  DesiredPlan,
  DesiredState,
  DesiredValue,
} from "./types.ts";

/** What a desired-state file made, as the manifest records it. */
export interface OwnedEntry {
  /** The entry's kind. */
  readonly kind: DesiredKind;
  /** The entry's name. */
  readonly name: string;
  /** The pins it made. */
  readonly pins: readonly string[];
  /** The paths outside bpffs it made. */
  readonly paths: readonly string[];
  /** The entry as it was made. */
  readonly spec: DesiredValue;
  /** An object file's sha256 when it was loaded. */
  readonly fingerprint: string;
}

/** Options for {@linkcode plan} and {@linkcode apply}. */
export interface PlanOptions extends StateOptions {
  /** The checks already run on this desired state (by `readDesired()`). */
  checked?: DesiredChecks;
}

export type Entry = { readonly name: string } & Record<string, unknown>;

/** One entry planned: its action, and what apply needs to take it. */
export interface Step extends DesiredAction {
  readonly entry?: Entry;
  readonly owned?: OwnedEntry;
  readonly fingerprint?: string;
}

export function info(path: string): ObjectInfo | undefined {
  try {
    return show(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** JSON with keys sorted and bigints as digits: equal specs, equal text. */
export function canon(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (typeof x === "bigint") return x.toString();
    if (typeof x === "number") return x.toString();
    if (x !== null && typeof x === "object" && !Array.isArray(x)) {
      return Object.fromEntries(
        Object.entries(x as Record<string, unknown>).sort(([a], [b]) =>
          a < b ? -1 : a > b ? 1 : 0
        ),
      );
    }
    return x;
  });
}

/** The first pin of `o` left by an apply cut short (a staged one), if any. */
function leftover(o: OwnedEntry | undefined): string | undefined {
  return o?.pins.find((p) =>
    (p.includes(`/${STAGED}/`) || p.endsWith(STAGED)) && info(p) !== undefined
  );
}

function ownedOf(name: string, state: string): OwnedEntry[] {
  const m = readManifest({ state }) as unknown as {
    desired?: { file: string; entries: OwnedEntry[] }[];
  };
  return m.desired?.find((o) => o.file === name)?.entries ?? [];
}

export function record(
  state: string,
  file: string,
  put: readonly OwnedEntry[],
  drop: readonly (readonly [string, string])[] = [],
): void {
  call("desired_record", { state, file, put, drop });
}

export function key(kind: string, name: string): string {
  return `${kind}/${name}`;
}

/** A rule's cgroups and their states, as `attach_status` gives them. */
interface RuleCgroups {
  pinRoot: string;
  name: string;
  entries: { state: string; cgroup: string }[];
}

/** The steps of a plan, with what apply needs. */
export function steps(
  d: DesiredState,
  options: PlanOptions,
): { state: string; checked: DesiredChecks; steps: Step[] } {
  const state = stateDir(options);
  const checked = options.checked ?? check(d);
  const owned = new Map(
    ownedOf(d.name, state).map((o) => [key(o.kind, o.name), o]),
  );
  const manifest = readManifest({ state });
  const exposed = exposures({ state });
  const out: Step[] = [];
  /** Objects made anew: what uses their programs is made anew too. */
  const fresh = new Set<string>();
  /** Every rule's cgroups, asked of the core once a plan (it walks them all). */
  let statuses: Map<string, RuleCgroups> | undefined;
  const ruleStatus = () =>
    statuses ??= new Map(
      call<RuleCgroups[]>("attach_status", { state }).map((x) => [
        `${x.pinRoot}\0${x.name}`,
        x,
      ]),
    );
  /** The programs' information, read once a pin (views share them). */
  const progs = new Map<string, ObjectInfo | undefined>();
  const progInfo = (pin: string) => {
    if (!progs.has(pin)) progs.set(pin, info(pin));
    return progs.get(pin);
  };
  /** Whether apply makes the object at `pin` anew (before exposures). */
  const renewed = (pin: string) =>
    out.some((s) =>
      s.action === "replace" && (s.kind === "view" || s.kind === "link") &&
      s.entry?.pin === pin
    ) ||
    (d.objects ?? []).some((o) =>
      fresh.has(o.name) && pin.startsWith(`${o.pinDir.replace(/\/+$/, "")}/`)
    );
  const conflict = (kind: DesiredKind, name: string, why: string) =>
    out.push({ action: "left-alone", kind, name, why });
  for (const [list, kind] of LISTS) {
    for (const raw of d[list] ?? []) {
      const e = raw as unknown as Entry;
      const o = owned.get(key(kind, e.name));
      const spec = canon(e);
      const same = o !== undefined && canon(o.spec) === spec;
      const push = (
        action: DesiredAction["action"],
        why: string,
        fingerprint?: string,
      ) =>
        out.push({
          action,
          kind,
          name: e.name,
          why,
          entry: e,
          ...(o === undefined ? {} : { owned: o }),
          ...(fingerprint === undefined ? {} : { fingerprint }),
        });
      const program = checked.programs.get(key(kind, e.name));
      const progFresh = program?.object !== undefined &&
        fresh.has(program.object);
      if (kind === "object") {
        const obj = raw as NonNullable<DesiredState["objects"]>[number];
        const fp = sha256(obj.path);
        const spec = checked.objects.get(obj.name)!;
        const progs = spec.programs.filter((p) =>
          obj.only === undefined ? p.autoload : obj.only.includes(p.name)
        ).map((p) => under(obj.pinDir, p.name));
        if (o === undefined) {
          const inWay = progs.find((p) => info(p) !== undefined);
          if (inWay !== undefined) {
            conflict(
              kind,
              e.name,
              `"${inWay}" exists and this file did not make it: not ours, left alone (remove it, or name another pinDir)`,
            );
            continue;
          }
          fresh.add(e.name);
          push("create", `load "${obj.path}" into "${obj.pinDir}"`, fp);
        } else if (o.fingerprint !== fp) {
          fresh.add(e.name);
          push(
            "replace",
            `"${obj.path}" changed (sha256 ${o.fingerprint.slice(0, 12)} to ${
              fp.slice(0, 12)
            })`,
            fp,
          );
        } else if (!same) {
          fresh.add(e.name);
          push("replace", "its entry changed", fp);
        } else {
          const gone = o.pins.find((p) => info(p) === undefined);
          const left = leftover(o);
          if (left !== undefined) {
            fresh.add(e.name);
            push("replace", `"${left}" is left by an apply cut short`, fp);
          } else if (gone !== undefined) {
            fresh.add(e.name);
            push("replace", `its pin "${gone}" is gone`, fp);
          } else push("keep", `loaded, ${o.pins.length} pins, same file`, fp);
        }
      } else if (kind === "map") {
        const m = raw as NonNullable<DesiredState["maps"]>[number];
        if (m.object !== undefined && fresh.has(m.object)) {
          push(
            o === undefined ? "create" : "replace",
            `write ${m.entries.length} entries once object "${m.object}" is loaded`,
          );
          continue;
        }
        const pin = mapPin(d, m);
        const differs = mapDiffers(pin, m.entries);
        if (differs !== undefined) {
          push(o === undefined ? "create" : "replace", differs);
        } else if (!same) push("replace", "its entry changed");
        else push("keep", `${m.entries.length} entries as given`);
      } else if (kind === "view" || kind === "link") {
        const pin = String(e.pin);
        const now = info(pin);
        if (o === undefined && now !== undefined) {
          conflict(
            kind,
            e.name,
            `"${pin}" exists and this file did not make it: not ours, left alone`,
          );
          continue;
        }
        const prog = program === undefined ? undefined : progInfo(program.pin);
        if (now === undefined) {
          push(
            o === undefined ? "create" : "replace",
            o === undefined ? `pin at "${pin}"` : `its pin "${pin}" is gone`,
          );
        } else if (leftover(o) !== undefined) {
          push("replace", `"${leftover(o)}" is left by an apply cut short`);
        } else if (progFresh) {
          push(
            "replace",
            `its program is loaded anew with object "${program!.object}"`,
          );
        } else if (!same) push("replace", "its entry changed");
        else if (
          now.kind !== "link" || prog === undefined || now.progId !== prog.id
        ) {
          push("replace", `"${pin}" is not a link of "${program?.pin}"`);
        } else push("keep", `link ${now.id} of program ${prog.id}`);
      } else if (kind === "rule") {
        const r = raw as NonNullable<DesiredState["rules"]>[number];
        const rule = manifest.rules.find((x) =>
          x.pinRoot === r.pinRoot && x.name === r.name
        );
        const waiting = waitingFor(r.cgroupRoot);
        if (o === undefined && rule !== undefined) {
          conflict(
            kind,
            e.name,
            `a rule "${r.name}" under "${r.pinRoot}" exists and this file did not make it: not ours, left alone`,
          );
          continue;
        }
        if (rule === undefined) {
          push(
            o === undefined ? "create" : "replace",
            o === undefined
              ? waiting ?? `a rule over "${r.cgroupRoot}"`
              : "its rule is gone from the manifest",
          );
        } else if (progFresh) {
          push(
            "replace",
            `its program is loaded anew with object "${program!.object}"`,
          );
        } else if (!same) push("replace", "its entry changed");
        else if (waiting !== undefined) push("keep", waiting);
        else {
          const status = ruleStatus().get(`${r.pinRoot}\0${r.name}`);
          const off = status?.entries.filter((x) => x.state !== "attached") ??
            [];
          if (off.length > 0) {
            push(
              "replace",
              `${off.length} cgroups not attached (first: "${off[0]!.cgroup}" ${
                off[0]!.state
              })`,
            );
          } else {push(
              "keep",
              `${status?.entries.length ?? 0} cgroups attached`,
            );}
        }
      } else {
        const x = raw as NonNullable<DesiredState["exposures"]>[number];
        const now = exposed.find((y) =>
          y.path === x.path && y.into === undefined
        );
        if (o === undefined && now !== undefined) {
          conflict(
            kind,
            e.name,
            `"${x.path}" is exposed and this file did not make it: not ours, left alone`,
          );
          continue;
        }
        if (now === undefined) {
          push(
            o === undefined ? "create" : "replace",
            o === undefined
              ? `expose "${x.pin}" at "${x.path}"`
              : "its exposure is gone",
          );
        } else if (!same) push("replace", "its entry changed");
        else if (renewed(x.pin)) {
          push("replace", `its pin "${x.pin}" is made anew`);
        } else if (now.state !== "ok") {
          push("replace", `its exposure is ${now.state}`);
        } else if (fresh.size > 0 && info(x.pin)?.id !== now.objectId) {
          push("replace", `its pin now holds another object`);
        } else push("keep", `exposed (${now.mode})`);
      }
    }
  }
  const named = new Set(
    LISTS.flatMap(([list, kind]) =>
      (d[list] ?? []).map((e) => key(kind, e.name))
    ),
  );
  const removals: Step[] = [];
  for (const o of owned.values()) {
    if (named.has(key(o.kind, o.name))) continue;
    removals.push({
      action: "remove",
      kind: o.kind,
      name: o.name,
      why: o.kind === "map"
        ? "no longer in the file (the values written stay in the map)"
        : "no longer in the file",
      owned: o,
    });
  }
  const order = LISTS.map(([, k]) => k as string);
  removals.sort((a, b) => order.indexOf(b.kind) - order.indexOf(a.kind));
  return { state, checked, steps: [...removals, ...out] };
}

export function mapPin(
  d: DesiredState,
  m: NonNullable<DesiredState["maps"]>[number],
): string {
  if (m.object === undefined) return m.map;
  const o = (d.objects ?? []).find((x) => x.name === m.object)!;
  return under(under(o.pinDir, "maps"), m.map);
}

/** Why the map at `pin` does not hold `entries`, or undefined when it does. */
function mapDiffers(
  pin: string,
  entries: NonNullable<DesiredState["maps"]>[number]["entries"],
): string | undefined {
  if (info(pin) === undefined) return `map "${pin}" is not pinned yet`;
  using map = openMap(pin);
  for (const { key: k, value } of entries) {
    const now = map.get(k);
    if (now === undefined) return `key ${canon(k)} is missing`;
    if (canon(now) !== canon(value)) {
      return `key ${canon(k)} holds ${canon(now)}`;
    }
  }
  return undefined;
}

export function strip(s: Step): DesiredAction {
  return { action: s.action, kind: s.kind, name: s.name, why: s.why };
}

/**
 * Compares the desired state `d` with the host, and returns each entry's
 * action with why: `create`, `replace`, `keep`, `remove` (made by this
 * file, no longer in it), or `left-alone` (in the way, and not made by
 * this file: apply refuses to start). Changes nothing.
 *
 * Needs `--allow-ffi`, root, and `--allow-env=BPFX_STATE` to honour it.
 */
export function plan(
  d: DesiredState,
  options: PlanOptions = {},
): DesiredPlan {
  const { steps: all } = steps(d, options);
  return {
    name: d.name,
    actions: all.map(strip),
    changes: all.some((s) => s.action !== "keep"),
  };
}
