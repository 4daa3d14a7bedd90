#!/usr/bin/env bash
# `deno publish --dry-run`, and a check that the package holds only the
# library's files: mod.ts, cli.ts, src/ (its .ts files and the desired
# state's JSON Schema), cli/, deno.json, README, the docs/ pages it links, and
# LICENSE files (no tests, benchmarks, Rust sources or Makefile).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DENO=${DENO:-node_modules/.bin/deno}
out=$(NO_COLOR=1 "$DENO" publish --dry-run --allow-dirty 2>&1) || {
	echo "$out" >&2
	exit 1
}
root="file://$PWD/"
files=$(sed -n "s|^ *${root}\([^ ]*\) (.*|\1|p" <<<"$out")
if [[ -z $files ]]; then
	echo "publish check: the dry run listed no files:" >&2
	echo "$out" >&2
	exit 1
fi
bad=$(grep -Ev '^(mod\.ts|cli\.ts|deno\.json|README\.md|docs/[^/]+\.md|LICENSE-MIT|LICENSE-APACHE|src/([^/]+/)*[^/]+\.ts|src/desired/schema\.json|cli/([^/]+/)*[^/]+\.ts)$' <<<"$files" || true)
if [[ -n $bad ]]; then
	echo "publish check: the package would hold files that are not the library's:" >&2
	echo "$bad" >&2
	exit 1
fi
for f in mod.ts cli.ts LICENSE-MIT LICENSE-APACHE README.md docs/*.md; do
	grep -qx "$f" <<<"$files" || {
		echo "publish check: $f is missing from the package" >&2
		exit 1
	}
done
echo "publish check: $(wc -l <<<"$files") files, only the library's"
