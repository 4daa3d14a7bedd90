/**
 * `@bomb.sh/tab` (shell completions) pinned in one place, loaded only by
 * `bpfx completions` and `bpfx complete`. A full `npm:` specifier, for the
 * same reason as in `_commander.ts`.
 *
 * @module
 */

export { default as tab } from "npm:@bomb.sh/tab@0.0.22/commander";
export type { RootCommand } from "npm:@bomb.sh/tab@0.0.22";
