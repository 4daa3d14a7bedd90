/**
 * "Did you mean": the names close to a mistyped one, by edit distance
 * (insertions, deletions, substitutions and swaps of two neighbours, each
 * one step, as git's `help.autocorrect` counts them). Only close matches:
 * one step for a name of up to five characters, two up to ten, three
 * beyond, so that `atach` finds `attach` and `frob` finds nothing.
 *
 * @module
 */

/** The optimal-string-alignment distance between `a` and `b`. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1).fill(0);
    row[0] = i;
    rows.push(row);
  }
  for (let j = 0; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i]!;
    const up = rows[i - 1]!;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(up[j]! + 1, row[j - 1]! + 1, up[j - 1]! + cost);
      if (
        i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]
      ) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      }
      row[j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/** How many steps away a name of `length` characters may be. */
function reach(length: number): number {
  return length <= 5 ? 1 : length <= 10 ? 2 : 3;
}

/**
 * The candidates closest to `word` and within reach, nearest first (at
 * most three); none when nothing is close. Leading dashes do not count.
 */
export function closest(
  word: string,
  candidates: Iterable<string>,
): string[] {
  const bare = (s: string) => s.replace(/^-+/, "");
  const typed = bare(word);
  const found: [string, number][] = [];
  for (const candidate of new Set(candidates)) {
    const d = editDistance(typed, bare(candidate));
    if (d > 0 && d <= reach(typed.length)) found.push([candidate, d]);
  }
  found.sort((x, y) => x[1] - y[1] || x[0].localeCompare(y[0]));
  const best = found[0]?.[1];
  return found.filter(([, d]) => d === best).slice(0, 3).map(([c]) => c);
}

/** `; did you mean 'attach'?`, or `""` when nothing is close. */
export function didYouMean(
  word: string,
  candidates: Iterable<string>,
): string {
  const near = closest(word, candidates).map((c) => `'${c}'`);
  if (near.length === 0) return "";
  const last = near.pop()!;
  return `; did you mean ${
    near.length ? `${near.join(", ")} or ${last}` : last
  }?`;
}
