/**
 * `@bomb.sh/tab` (shell completions) pinned in one place, loaded only by
 * `bpfx completions` and `bpfx complete`: its core API, fed from bpfx's own
 * command table. A full `npm:` specifier, so that the CLI also runs when
 * imported by URL, where the project's deno.json and package.json are not
 * read; locally, Deno resolves it from `node_modules`.
 *
 * @module
 */

export { RootCommand } from "npm:@bomb.sh/tab@0.0.22";
