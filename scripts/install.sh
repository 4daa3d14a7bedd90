#!/usr/bin/env bash
# make install / make uninstall: a copy of bpfx under a versioned prefix,
#   $DESTDIR$PREFIX/lib/bpfx/$VERSION/   the launcher, the modules, deno.json,
#                                        dist/ (the core library), and from
#                                        node_modules only Deno and @bomb.sh/tab
#   $DESTDIR$PREFIX/bin/bpfx             a symlink to that launcher
#   $DESTDIR$PREFIX/lib/systemd/system/bpfx-watch.service
#   $DESTDIR$PREFIX/share/doc/bpfx/      README and licences
# The copy needs nothing from the checkout: it keeps working after the
# checkout moves or goes. Uninstall removes exactly these.
# Usage: scripts/install.sh install|uninstall DESTDIR PREFIX VERSION
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

action=$1 destdir=$2 prefix=$3 version=$4
[[ -n $version ]] || { echo "install: no version" >&2; exit 1; }
[[ $prefix == /* ]] || { echo "install: PREFIX must be absolute: $prefix" >&2; exit 1; }
root=$destdir$prefix
lib=$root/lib/bpfx/$version
bin=$root/bin/bpfx
unit=$root/lib/systemd/system/bpfx-watch.service
doc=$root/share/doc/bpfx

uninstall() {
	if [[ -L $bin ]]; then
		rm -f -- "$bin" && echo "removed $bin"
	elif [[ -e $bin ]]; then
		echo "install: $bin is not bpfx's symlink; left alone" >&2
	fi
	[[ -e $unit ]] && rm -f -- "$unit" && echo "removed $unit"
	[[ -d $doc ]] && rm -rf -- "$doc" && echo "removed $doc"
	if [[ -d $lib ]]; then
		rm -rf -- "$lib" && echo "removed $lib"
	fi
	rmdir -- "$root/lib/bpfx" 2>/dev/null || true
	return 0
}

if [[ $action == uninstall ]]; then
	uninstall
	exit 0
fi

for f in bpfx mod.ts cli.ts deno.json package.json dist/manifest.json node_modules/deno/deno; do
	[[ -e $f ]] || { echo "install: $f is missing: run make first" >&2; exit 1; }
done

# Build the copy beside its final place, then move it in, so that a failed
# install leaves no half-made prefix.
tmp=$(mktemp -d "${lib%/*}.tmp.XXXXXX" 2>/dev/null || { install -d "${lib%/*}"; mktemp -d "${lib%/*}/.tmp.XXXXXX"; })
trap 'rm -rf -- "$tmp"' EXIT
cp -p bpfx mod.ts cli.ts deno.json package.json "$tmp/"
cp -pR src cli "$tmp/"
install -d "$tmp/dist" "$tmp/node_modules/.bin" "$tmp/node_modules/deno" "$tmp/node_modules/@bomb.sh"
cp -p dist/manifest.json dist/libbpfx_core-*.so "$tmp/dist/"
cp -p node_modules/deno/deno node_modules/deno/package.json "$tmp/node_modules/deno/"
ln -s ../deno/deno "$tmp/node_modules/.bin/deno"
cp -pR node_modules/@bomb.sh/tab "$tmp/node_modules/@bomb.sh/"
chmod -R go-w "$tmp"

install -d "${lib%/*}" "${bin%/*}" "${unit%/*}" "$doc"
if [[ -e $lib ]]; then rm -rf -- "$lib"; fi
mv -T -- "$tmp" "$lib"
trap - EXIT
ln -sfn -- "$prefix/lib/bpfx/$version/bpfx" "$bin"
sed "s|@PREFIX@|$prefix|g" contrib/bpfx-watch.service > "$unit.tmp"
mv -f -- "$unit.tmp" "$unit"
chmod 0644 "$unit"
install -m 0644 README.md LICENSE-MIT LICENSE-APACHE "$doc/"
echo "installed bpfx $version in $lib; $bin; $unit"
