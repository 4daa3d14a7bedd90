/**
 * The one error family of bpfx.
 *
 * Every failure of the core arrives as a JSON error object (docs/ABI.md) and
 * becomes one of these classes:
 *
 * - {@linkcode BpfError}: the base, with `kind`, `op` (the syscall or verb that
 *   failed, such as `BPF_OBJ_PIN`), `errno`, and `path` and `hint` when known;
 * - {@linkcode VerifierError}: the verifier refused a program, with its `log`;
 * - {@linkcode NotSupportedError}: the kernel lacks a `feature`;
 * - {@linkcode BpfNotFoundError} and {@linkcode BpfAlreadyExistsError}: the
 *   same fields, but extending `Deno.errors.NotFound` and
 *   `Deno.errors.AlreadyExists`, so code written for Deno's file errors works.
 *
 * {@linkcode isBpfError} recognises any of them.
 *
 * @module
 */

/** What went wrong, as the core classifies it. */
export type ErrorKind =
  | "not-found"
  | "exists"
  | "permission"
  | "not-bpffs"
  | "wrong-kind"
  | "verifier"
  | "elf"
  | "incompatible"
  | "not-supported"
  | "invalid"
  | "busy"
  | "os"
  | "internal";

/** The error object the core replies with, as JSON (docs/ABI.md). */
export interface CoreErrorObject {
  /** What went wrong. */
  kind: ErrorKind;
  /** The syscall or verb that failed: `BPF_OBJ_PIN`, `statfs`, `parse`, ... */
  op: string;
  /** The positive errno, or 0. */
  errno: number;
  /** A sentence-case message that quotes the values involved. */
  message: string;
  /** The path involved, if any. */
  path: string | null;
  /** The verifier log, for kind `verifier`. */
  log: string | null;
  /** What the kernel lacks, for kind `not-supported`. */
  feature: string | null;
  /** What to do about it, when there is something to do. */
  hint: string | null;
}

/** The fields every bpfx error carries, whichever class it is. */
export interface BpfErrorFields {
  /** What went wrong. */
  readonly kind: ErrorKind;
  /** The syscall or verb that failed, such as `BPF_OBJ_PIN` or `dlopen`. */
  readonly op: string;
  /** The positive errno, or 0 when there is none. */
  readonly errno: number;
  /** The path (or URL) involved, if any. */
  readonly path?: string;
  /** What to do about it, when there is something to do. */
  readonly hint?: string;
}

/** Any error thrown by bpfx: an `Error` with {@linkcode BpfErrorFields}. */
export type AnyBpfError = Error & BpfErrorFields;

/** How to build a {@linkcode BpfError}. */
export interface BpfErrorInit {
  /** What went wrong. */
  kind: ErrorKind;
  /** The syscall or verb that failed. */
  op: string;
  /** The positive errno; 0 when left out. */
  errno?: number;
  /** The path or URL involved. */
  path?: string;
  /** What to do about it. */
  hint?: string;
  /** The underlying error. */
  cause?: unknown;
}

function errorOptions(init: BpfErrorInit): ErrorOptions | undefined {
  return init.cause === undefined ? undefined : { cause: init.cause };
}

/** A hint worth giving: a string with something in it. */
function realHint(hint: string | null | undefined): hint is string {
  return typeof hint === "string" && hint.trim() !== "";
}

/**
 * Copies the optional fields without creating `undefined` properties: an
 * error has a hint that says something, or no `hint` field at all.
 */
function assignFields(target: BpfErrorFieldsMut, init: BpfErrorInit): void {
  target.kind = init.kind;
  target.op = init.op;
  target.errno = init.errno ?? 0;
  if (init.path !== undefined) target.path = init.path;
  if (realHint(init.hint)) target.hint = init.hint;
}

type BpfErrorFieldsMut = {
  -readonly [K in keyof BpfErrorFields]: BpfErrorFields[K];
};

/** A failure reported by the bpfx core or by the loading of the core. */
export class BpfError extends Error implements BpfErrorFields {
  /** `"BpfError"`. */
  override name = "BpfError";
  declare readonly kind: ErrorKind;
  declare readonly op: string;
  declare readonly errno: number;
  declare readonly path?: string;
  declare readonly hint?: string;

  /** Makes an error with `message` (sentence case, no final period). */
  constructor(message: string, init: BpfErrorInit) {
    super(message, errorOptions(init));
    assignFields(this, init);
  }

  /**
   * `e instanceof BpfError` holds for every error of the family, those that
   * are also `Deno.errors.NotFound` or `AlreadyExists` included
   * ({@linkcode BpfNotFoundError}, {@linkcode BpfAlreadyExistsError}), so a
   * `catch` that tests for `BpfError` never misses one. Subclasses such as
   * {@linkcode VerifierError} test as usual.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    const own = Function.prototype[Symbol.hasInstance].call(this, value);
    if (own || this !== BpfError) return own;
    return value instanceof BpfNotFoundError ||
      value instanceof BpfAlreadyExistsError;
  }

  /** The error as the core's JSON error object. */
  toJSON(): CoreErrorObject {
    return toCoreObject(this);
  }
}

/** The verifier refused a program; `log` holds what it said. */
export class VerifierError extends BpfError {
  /** `"VerifierError"`. */
  override name = "VerifierError";
  /** The verifier log. */
  readonly log: string;

  /** Makes an error with the verifier's `log`. */
  constructor(message: string, init: BpfErrorInit & { log: string }) {
    super(message, init);
    this.log = init.log;
  }
}

/** The running kernel lacks `feature`. */
export class NotSupportedError extends BpfError {
  /** `"NotSupportedError"`. */
  override name = "NotSupportedError";
  /** What the kernel lacks. */
  readonly feature: string;

  /** Makes an error naming the missing `feature`. */
  constructor(message: string, init: BpfErrorInit & { feature: string }) {
    super(message, init);
    this.feature = init.feature;
  }
}

/** The fields of {@linkcode BpfNotFoundError}, which `assignFields` sets. */
export interface BpfNotFoundError extends BpfErrorFields {}

/** Something does not exist (ENOENT); also a `Deno.errors.NotFound`. */
export class BpfNotFoundError extends Deno.errors.NotFound {
  /** `"BpfNotFoundError"`. */
  override name = "BpfNotFoundError";

  /** Makes an error with `message` (sentence case, no final period). */
  constructor(message: string, init: BpfErrorInit) {
    super(message, errorOptions(init));
    assignFields(this, init);
  }

  /** The error as the core's JSON error object. */
  toJSON(): CoreErrorObject {
    return toCoreObject(this);
  }
}

/** The fields of {@linkcode BpfAlreadyExistsError}, which `assignFields` sets. */
export interface BpfAlreadyExistsError extends BpfErrorFields {}

/** Something already exists (EEXIST); also a `Deno.errors.AlreadyExists`. */
export class BpfAlreadyExistsError extends Deno.errors.AlreadyExists {
  /** `"BpfAlreadyExistsError"`. */
  override name = "BpfAlreadyExistsError";

  /** Makes an error with `message` (sentence case, no final period). */
  constructor(message: string, init: BpfErrorInit) {
    super(message, errorOptions(init));
    assignFields(this, init);
  }

  /** The error as the core's JSON error object. */
  toJSON(): CoreErrorObject {
    return toCoreObject(this);
  }
}

/** Whether `error` is one of the bpfx error classes. */
export function isBpfError(error: unknown): error is AnyBpfError {
  return error instanceof BpfError ||
    error instanceof BpfNotFoundError ||
    error instanceof BpfAlreadyExistsError;
}

/** Any bpfx error as the core's JSON error object. */
export function toCoreObject(error: AnyBpfError): CoreErrorObject {
  return {
    kind: error.kind,
    op: error.op,
    errno: error.errno,
    message: error.message,
    path: error.path ?? null,
    log: error instanceof VerifierError ? error.log : null,
    feature: error instanceof NotSupportedError ? error.feature : null,
    hint: error.hint ?? null,
  };
}

/** Turns the core's JSON error object into the matching error class. */
export function fromCoreObject(object: CoreErrorObject): AnyBpfError {
  const init: BpfErrorInit = {
    kind: object.kind,
    op: object.op,
    errno: object.errno,
  };
  if (object.path !== null && object.path !== undefined) {
    init.path = object.path;
  }
  if (realHint(object.hint)) init.hint = object.hint;
  switch (object.kind) {
    case "not-found":
      return new BpfNotFoundError(object.message, init);
    case "exists":
      return new BpfAlreadyExistsError(object.message, init);
    case "verifier":
      return new VerifierError(object.message, {
        ...init,
        log: object.log ?? "",
      });
    case "not-supported":
      return new NotSupportedError(object.message, {
        ...init,
        feature: object.feature ?? "",
      });
    default:
      return new BpfError(object.message, init);
  }
}
