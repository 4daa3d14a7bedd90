/**
 * The npm packages that read a desired-state file, pinned in one place:
 * `yaml` (eemeli's: YAML 1.2 with each node's place in the text) and `ajv`
 * (JSON Schema). Full `npm:` specifiers, so that the API also works when
 * imported by URL; locally, Deno resolves them from `node_modules`. Only
 * `file.ts` imports this module, and only `readDesired()` imports that.
 *
 * @module
 */

export {
  isMap,
  isNode,
  isPair,
  isScalar,
  LineCounter,
  type Node,
  parseDocument,
} from "npm:yaml@2.9.1";
export { Ajv } from "npm:ajv@8.20.0";
