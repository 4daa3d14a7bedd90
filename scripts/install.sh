#!/usr/bin/env bash
# make install / make uninstall: a copy of bpfx under a versioned prefix,
#   $DESTDIR$PREFIX/lib/bpfx/$VERSION/   the launcher, the modules, deno.json,
#                                        dist/ (the core library), and from
#                                        node_modules Deno and the runtime
#                                        packages (npm ls --omit=dev)
#   $DESTDIR$PREFIX/bin/bpfx             a symlink to that launcher
#   $DESTDIR$PREFIX/lib/systemd/system/bpfx-watch.service
#   $DESTDIR$PREFIX/share/doc/bpfx/      README, docs/*.md (the pages the
#                                        README links) and licences
# The copy needs nothing from the checkout: it keeps working after the
# checkout moves or goes. Uninstall removes exactly these, and the
# directories install made for them (listed in the copy's .made-dirs) when
# they are empty again.
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
	local made=()
	if [[ -d $lib ]]; then
		if [[ -f $lib/.made-dirs ]]; then mapfile -t made <"$lib/.made-dirs"; fi
		rm -rf -- "$lib" && echo "removed $lib"
	fi
	rmdir -- "$root/lib/bpfx" 2>/dev/null || true
	# Deepest first (install listed them parent first); one still holding
	# something, another version's or not bpfx's, stays.
	local i d
	for ((i = ${#made[@]} - 1; i >= 0; i--)); do
		d=${made[i]}
		[[ $d == "$root"/* || $d == "$root" ]] || continue
		rmdir -- "$d" 2>/dev/null && echo "removed $d"
	done
	return 0
}

# The directories on the way to each argument that do not exist yet, parent
# first: what `install -d` is about to make.
missing_dirs() {
	local target d
	local -A seen=()
	for target in "$@"; do
		local chain=()
		d=$target
		while [[ ! -e $d && $d == /* && $d != / ]]; do
			chain=("$d" "${chain[@]}")
			d=${d%/*}
			[[ -n $d ]] || d=/
		done
		for d in "${chain[@]}"; do
			[[ -n ${seen[$d]:-} ]] && continue
			seen[$d]=1
			printf '%s\n' "$d"
		done
	done
}

if [[ $action == uninstall ]]; then
	uninstall
	exit 0
fi

for f in bpfx mod.ts cli.ts deno.json package.json dist/manifest.json node_modules/deno/deno; do
	[[ -e $f ]] || { echo "install: $f is missing: run make first" >&2; exit 1; }
done

# What install makes on the way, recorded in the copy for uninstall; a
# reinstall of this version keeps the first install's record.
made=$(missing_dirs "${lib%/*}" "${bin%/*}" "${unit%/*}" "$doc")
if [[ -f $lib/.made-dirs ]]; then made=$(cat -- "$lib/.made-dirs"); fi

# Build the copy beside its final place, then move it in, so that a failed
# install leaves no half-made prefix.
tmp=$(mktemp -d "${lib%/*}.tmp.XXXXXX" 2>/dev/null || { install -d "${lib%/*}"; mktemp -d "${lib%/*}/.tmp.XXXXXX"; })
trap 'rm -rf -- "$tmp"' EXIT
cp -p bpfx mod.ts cli.ts deno.json package.json "$tmp/"
cp -pR src cli "$tmp/"
install -d "$tmp/dist" "$tmp/node_modules/.bin" "$tmp/node_modules/deno"
cp -p dist/manifest.json dist/libbpfx_core-*.so "$tmp/dist/"
cp -p node_modules/deno/deno node_modules/deno/package.json "$tmp/node_modules/deno/"
ln -s ../deno/deno "$tmp/node_modules/.bin/deno"
# The runtime packages (package.json's dependencies, and theirs), as npm
# resolved them: @bomb.sh/tab for completions, yaml and ajv for plan and apply.
mapfile -t packages < <(npm ls --omit=dev --all --parseable 2>/dev/null | sed -n "s|^$PWD/node_modules/||p")
[[ ${#packages[@]} -gt 0 ]] || { echo "install: npm lists no runtime packages: run make deps" >&2; exit 1; }
for p in "${packages[@]}"; do
	install -d "$(dirname -- "$tmp/node_modules/$p")"
	cp -pR "node_modules/$p" "$tmp/node_modules/$p"
done
chmod -R go-w "$tmp"

if [[ -n $made ]]; then printf '%s\n' "$made" >"$tmp/.made-dirs"; fi
install -d "${lib%/*}" "${bin%/*}" "${unit%/*}" "$doc" "$doc/docs"
if [[ -e $lib ]]; then rm -rf -- "$lib"; fi
mv -T -- "$tmp" "$lib"
trap - EXIT
ln -sfn -- "$prefix/lib/bpfx/$version/bpfx" "$bin"
sed "s|@PREFIX@|$prefix|g" contrib/bpfx-watch.service > "$unit.tmp"
mv -f -- "$unit.tmp" "$unit"
chmod 0644 "$unit"
install -m 0644 README.md LICENSE-MIT LICENSE-APACHE "$doc/"
install -m 0644 docs/*.md "$doc/docs/"
echo "installed bpfx $version in $lib; $bin; $unit"
