/**
 * Seeded property runs (fast-check). Every run uses one seed, printed when a property fails (in
 * fast-check's own report: `{ seed: N, path: "..." }`) and at the start of each file, so a failure
 * replays with `OCIUTIL_TEST_SEED=N npx vitest run tools/test/property-....test.ts`.
 * `OCIUTIL_TEST_PROPERTY_RUNS` scales the number of inputs (default 1: the counts in the tests).
 */
import fc from "fast-check";
import { expect } from "vitest";
import { OciError } from "../../ociutil/util/errors.js";

const fromEnv = process.env["OCIUTIL_TEST_SEED"];
export const PROPERTY_SEED = fromEnv !== undefined && fromEnv !== "" ? Number(fromEnv) : Math.floor(Math.random() * 0x7fffffff);
const scale = Number(process.env["OCIUTIL_TEST_PROPERTY_RUNS"] ?? "1") || 1;

/** fast-check parameters: the shared seed, and `runs` inputs (scaled). */
export function runs(n: number): fc.Parameters<unknown> {
  return { seed: PROPERTY_SEED, numRuns: Math.max(1, Math.round(n * scale)) };
}

/** Logs the seed once per test file (vitest shows it with the file's output). */
export function announceSeed(file: string): void {
  console.log(`${file}: property seed ${PROPERTY_SEED} (replay: OCIUTIL_TEST_SEED=${PROPERTY_SEED})`);
}

/**
 * The one outcome allowed for bad input: an OciError (or subclass) whose message is one line of
 * readable length. Anything else (a TypeError, a RangeError from recursion, a zod error escaping) is
 * what `cli/run.ts` would print as "internal error" with a stack.
 */
export function expectOneClearError(err: unknown, context: string): void {
  if (!(err instanceof OciError)) {
    throw new Error(`${context}: not an OciError: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  expect(err.message.length, `${context}: empty message`).toBeGreaterThan(0);
  expect(err.message.length, `${context}: message of ${err.message.length} characters`).toBeLessThanOrEqual(MAX_MESSAGE);
}

/** A clear line quotes what is wrong, not the whole input (a 1 MB reference must not become a 1 MB line). */
export const MAX_MESSAGE = 2000;

/** Runs `fn` and returns its result, or undefined after checking its failure is one clear error. */
export function outcome<T>(fn: () => T, context: string): T | undefined {
  try {
    return fn();
  } catch (err) {
    expectOneClearError(err, context);
    return undefined;
  }
}

export async function outcomeAsync<T>(fn: () => Promise<T>, context: string): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    expectOneClearError(err, context);
    return undefined;
  }
}

// ---- generators shared by the property tests ----

/** Strings a hostile input is made of: control characters, unicode, separators, traversal. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom("", " ", "\n", "\r\n", "\u0000", "\u001b[31m", "..", "../../etc/passwd", "/etc/passwd", "a/../../b", "\\", "%2e%2e/",
    "sha256:", "@", ":", "//", "[", "]", "[::1]", "\u202e", "\ud800", "__proto__", "constructor", "x".repeat(300)),
);

/** JSON values a field may be replaced with: wrong types, huge and odd numbers, nesting, hostile strings. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  hostileString,
  fc.constantFrom(null, true, false, 0, -1, 1.5, -0, 2 ** 53, 2 ** 64, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2),
  fc.constantFrom([], {}, [null], { "": "" }, { __proto__: { polluted: true } }),
  fc.integer({ min: 200, max: 20_000 }).map((depth) => new DeepNest(depth)),
);

/** A value nested `depth` levels deep, spliced in as text (JSON.stringify itself would recurse). */
export class DeepNest {
  constructor(readonly depth: number) {}
}

/**
 * Serializes `doc` to JSON text, splicing each DeepNest in as `[[[...]]]`. Never recurses on the
 * nested value, so depths beyond the stack work.
 */
export function serialize(doc: unknown): string {
  const nests: DeepNest[] = [];
  const text = JSON.stringify(doc, (_k, v: unknown) => {
    if (v instanceof DeepNest) {
      nests.push(v);
      return `\u0000nest${nests.length - 1}\u0000`;
    }
    return v;
  });
  return (text ?? "null").replace(/"\\u0000nest(\d+)\\u0000"/g, (_m, i: string) => {
    const d = nests[Number(i)]!.depth;
    return "[".repeat(d) + "]".repeat(d);
  });
}

/** Replaces (or, for `undefined`, deletes) the value at a path picked through `doc` by `picks`. */
export function mutateAt(doc: unknown, picks: readonly number[], value: unknown): unknown {
  const root = structuredClone(doc) as unknown;
  if (picks.length === 0 || typeof root !== "object" || root === null) return value;
  let node = root as Record<string, unknown>;
  for (const [i, pick] of picks.entries()) {
    const keys = Object.keys(node);
    if (keys.length === 0) {
      node["x"] = value;
      return root;
    }
    const key = keys[pick % keys.length]!;
    const child = node[key];
    if (i === picks.length - 1 || typeof child !== "object" || child === null) {
      if (value === undefined) delete node[key];
      else node[key] = value;
      return root;
    }
    node = child as Record<string, unknown>;
  }
  return root;
}

/** A JSON document mutated at one field (replaced, deleted) or left whole. */
export function mutatedJson(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 1, arbitrary: valid },
    {
      weight: 6,
      arbitrary: fc
        .tuple(valid, fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), fc.option(hostileJson, { nil: undefined, freq: 6 }))
        .map(([doc, picks, v]) => mutateAt(doc, picks, v)),
    },
  );
}

/** Bytes of a text, damaged: truncated, a byte flipped, bytes inserted, or left whole. */
export function damagedBytes(text: fc.Arbitrary<string>): fc.Arbitrary<Buffer> {
  return fc.oneof(
    text.map((t) => Buffer.from(t)),
    fc.tuple(text, fc.nat()).map(([t, n]) => Buffer.from(t).subarray(0, n % (Buffer.byteLength(t) + 1))),
    fc.tuple(text, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([t, n, b]) => {
      const buf = Buffer.from(t);
      if (buf.length > 0) buf[n % buf.length] = b;
      return buf;
    }),
    fc.tuple(text, fc.nat(), fc.uint8Array({ maxLength: 16 })).map(([t, n, ins]) => {
      const buf = Buffer.from(t);
      const at = n % (buf.length + 1);
      return Buffer.concat([buf.subarray(0, at), ins, buf.subarray(at)]);
    }),
  );
}

export const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
export const sha256Digest = hex64.map((h) => `sha256:${h}`);
