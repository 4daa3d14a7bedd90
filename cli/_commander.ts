/**
 * commander, with the typings of `@commander-js/extra-typings`, pinned in one
 * place. The specifier is a full `npm:` one so that the CLI also runs when
 * imported by URL, where the project's deno.json and package.json are not
 * read; locally, Deno resolves it from `node_modules` (installed by
 * `npm install` from package.json).
 *
 * @module
 */

export {
  Argument,
  Command,
  CommanderError,
  InvalidArgumentError,
  Option,
} from "npm:@commander-js/extra-typings@15.1.0";
export type { Command as PlainCommand } from "npm:commander@15.1.0";
