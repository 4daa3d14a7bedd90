#!/usr/bin/env bash
# Carries aya and aya-obj in vendor/, as published on crates.io, with bpfx's
# patches on top as one commit each (docs/design.md lists them).
#
#   scripts/vendor_aya.sh AYA_VERSION AYA_OBJ_VERSION
#
# 1. Fetches the two crates with cargo (from crates.io, checksums checked by
#    cargo) into a scratch project, and puts them at vendor/aya and
#    vendor/aya-obj as published: one commit, "vendor: aya X and aya-obj Y
#    as published on crates.io".
# 2. If an earlier import is in the history, takes every commit since it
#    that touches vendor/ (the patches) and applies them again, in order,
#    with `git am -3`: moving to a newer aya costs a rebase of the patches.
#    A patch that no longer applies stops the script where `git am` stops;
#    mend it, `git am --continue`, and the rest follow.
#
# Needs a clean work tree. Touches only vendor/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if (($# != 2)); then
	echo "usage: scripts/vendor_aya.sh AYA_VERSION AYA_OBJ_VERSION (e.g. 0.14.0 0.3.0)" >&2
	exit 2
fi
aya=$1
obj=$2
if [[ -n $(git status --porcelain) ]]; then
	echo "vendor_aya: the work tree has changes: commit or stash them first" >&2
	exit 1
fi

import_subject='^vendor: aya [^ ]* and aya-obj [^ ]* as published on crates.io$'
base=$(git log -1 --format=%H --grep="$import_subject" -- vendor/ || true)

scratch=$(mktemp -d)
trap 'rm -rf -- "$scratch"' EXIT

patches=$scratch/patches
mkdir -p "$patches"
if [[ -n $base ]]; then
	git format-patch -q -o "$patches" "$base"..HEAD -- vendor/
fi

# A project of nothing but the two crates, vendored by cargo itself.
mkdir -p "$scratch/p/src"
cat >"$scratch/p/Cargo.toml" <<EOF
[package]
name = "vendor-aya"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
aya = "=$aya"
aya-obj = "=$obj"
EOF
: >"$scratch/p/src/lib.rs"
(cd "$scratch/p" && cargo vendor --quiet --versioned-dirs "$scratch/v" >/dev/null)

for c in "aya-$aya:aya" "aya-obj-$obj:aya-obj"; do
	from=$scratch/v/${c%%:*}
	to=vendor/${c##*:}
	if [[ ! -d $from ]]; then
		echo "vendor_aya: cargo vendored no ${c%%:*}" >&2
		exit 1
	fi
	rm -rf -- "$to"
	mkdir -p vendor
	cp -R -- "$from" "$to"
	# cargo's checksum of the vendored files; a path dependency needs none.
	rm -f -- "$to/.cargo-checksum.json"
done

git add -A vendor/
git commit -q -m "vendor: aya $aya and aya-obj $obj as published on crates.io" \
	-m "Fetched by scripts/vendor_aya.sh with cargo vendor; no file changed. bpfx's patches follow, one commit each."
echo "vendor_aya: imported aya $aya and aya-obj $obj"

shopt -s nullglob
set -- "$patches"/*.patch
if (($# > 0)); then
	echo "vendor_aya: applying $# patches"
	git am -3 -q "$@"
fi
echo "vendor_aya: done; now build (cargo build -p bpfx-core) and run make test"
