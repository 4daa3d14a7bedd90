#!/usr/bin/env bash
# Loads each BPF example with the stock tools (bpftool/libbpf), independent of
# bpfx, into a private bpffs, then removes it. Needs root.
#   scripts/loadcheck.sh [OBJ...]     (default: build/examples/*.bpf.o)
#
# libbpf pins LIBBPF_PIN_BY_NAME maps under /sys/fs/bpf and bpftool has no
# option to change that, so bpftool runs in a private mount namespace where
# the private bpffs is bind-mounted over /sys/fs/bpf: by-name pins land in the
# private bpffs and nothing touches the host's /sys/fs/bpf.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ $(id -u) -eq 0 ]] || { echo "loadcheck: needs root" >&2; exit 1; }
objs=("$@")
((${#objs[@]})) || objs=(build/examples/*.bpf.o)

# Dot-free: bpffs refuses names with a dot, and libbpf rewrites them to `_`.
B=$(mktemp -d /tmp/bpfxb-XXXXXXXX)
mounted_at() { awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; }
cleanup() {
	local rc=$?
	set +e
	while mounted_at "$B"; do umount "$B" || break; done
	[[ -d $B ]] && rmdir "$B"
	if mounted_at "$B" || [[ -e $B ]]; then
		echo "loadcheck: $B is still mounted or present" >&2
		rc=1
	fi
	exit "$rc"
}
trap cleanup EXIT

mount -t bpf bpf "$B"

for obj in "${objs[@]}"; do
	name=$(basename "$obj" .bpf.o)
	name=${name//./_}
	echo "== $obj"
	first_iter=$(llvm-objdump -h "$obj" | awk '$NF == "TEXT" && $2 != ".text" { if ($2 ~ /^iter\//) print $2; exit }')
	unshare -m --propagation private sh -euc '
		mount --bind "$1" /sys/fs/bpf
		mkdir "$1/$3"
		bpftool prog loadall "$2" "$1/$3/progs"
		# `bpftool iter pin` attaches the first program: run it when it is an iterator.
		if [ -n "$4" ]; then
			# A map element iterator needs a map: give it a small u32 -> u64 hash.
			if [ "$4" = iter/bpf_map_elem ]; then
				bpftool map create "$1/$3/elems" type hash key 4 value 8 entries 4 name elems
				bpftool map update pinned "$1/$3/elems" key 1 0 0 0 value 2 0 0 0 0 0 0 0
				bpftool iter pin "$2" "$1/$3/iter" map pinned "$1/$3/elems"
			else
				bpftool iter pin "$2" "$1/$3/iter"
			fi
			echo "-- $4 output (first 3 lines of $(wc -l <"$1/$3/iter")):"
			awk "NR <= 3" "$1/$3/iter"
		fi
	' loadcheck "$B" "$obj" "$name" "$first_iter"
	echo "-- pins:"
	(cd "$B" && find "$name" -mindepth 1 | sort)
	[[ -n $(find "$B" -maxdepth 1 -type f ! -name '*.debug') ]] &&
		echo "-- by-name pins:" && (cd "$B" && find . -maxdepth 1 -type f ! -name '*.debug' | sort)
	echo "-- programs:"
	for p in "$B/$name/progs/"*; do bpftool prog show pinned "$p" | sed -n 1p; done
	echo "-- maps:"
	ids=$(for p in "$B/$name/progs/"*; do bpftool prog show pinned "$p"; done |
		sed -n 's/.*map_ids \([0-9,]*\).*/\1/p' | tr , '\n' | sort -un)
	for id in $ids; do bpftool map show id "$id" | sed -n 1p; done
	rm -rf "${B:?}/$name"
	find "$B" -maxdepth 1 -type f ! -name '*.debug' -delete
done

umount "$B"
echo "loadcheck: ok (${#objs[@]} object(s) loaded and removed)"
