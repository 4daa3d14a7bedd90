// A small assertion module for the tests (jsr:@std/assert is out of reach
// here, and node:assert would need @types/node for type checking).

export class AssertionError extends Error {
  override name = "AssertionError";
}

function show(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => typeof x === "bigint" ? `${x}n` : x);
  } catch {
    return String(v);
  }
}

function deepEq(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (
    typeof a !== "object" || typeof b !== "object" || a === null || b === null
  ) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    deepEq((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
  );
}

export interface Assert {
  ok(v: unknown, msg?: string): asserts v;
  equal<T>(actual: T, expected: T, msg?: string): void;
  notEqual<T>(actual: T, expected: T, msg?: string): void;
  deepEqual<T>(actual: T, expected: T, msg?: string): void;
  match(actual: string, re: RegExp, msg?: string): void;
  throws(fn: () => unknown, re?: RegExp): Error;
  fail(msg: string): never;
}

export const assert: Assert = {
  ok(v: unknown, msg?: string): asserts v {
    if (!v) {
      throw new AssertionError(
        msg ?? `expected a truthy value, got ${show(v)}`,
      );
    }
  },
  equal<T>(actual: T, expected: T, msg?: string): void {
    if (!Object.is(actual, expected)) {
      throw new AssertionError(
        `${msg ? msg + ": " : ""}expected ${show(expected)}, got ${
          show(actual)
        }`,
      );
    }
  },
  notEqual<T>(actual: T, expected: T, msg?: string): void {
    if (Object.is(actual, expected)) {
      throw new AssertionError(
        msg ?? `expected a value other than ${show(expected)}`,
      );
    }
  },
  deepEqual<T>(actual: T, expected: T, msg?: string): void {
    if (!deepEq(actual, expected)) {
      throw new AssertionError(
        `${msg ? msg + ": " : ""}expected ${show(expected)}\n     got ${
          show(actual)
        }`,
      );
    }
  },
  match(actual: string, re: RegExp, msg?: string): void {
    if (!re.test(actual)) {
      throw new AssertionError(
        msg ?? `expected ${show(actual)} to match ${re}`,
      );
    }
  },
  throws(fn: () => unknown, re?: RegExp): Error {
    try {
      fn();
    } catch (e) {
      if (re && !re.test((e as Error).message)) {
        throw new AssertionError(
          `expected an error matching ${re}, got ${show((e as Error).message)}`,
        );
      }
      return e as Error;
    }
    throw new AssertionError("expected an error");
  },
  fail(msg: string): never {
    throw new AssertionError(msg);
  },
};
