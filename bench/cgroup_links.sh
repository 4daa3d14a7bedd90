#!/usr/bin/env bash
# Part of bench/run.sh: a cgroup program's links over a subtree. Args:
# BPFFS OUT RUNS.
set -euo pipefail
B=$1
out=$2
DENO=${DENO:-node_modules/.bin/deno}
PARENTS=${PARENTS:-100}
CHILDREN=${CHILDREN:-100}
LATENCY=${LATENCY:-300}
OBJ=build/tests/cgroup_progs.bpf.o
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
top="$CG2/bpfxbench-cl-$$"
cleanup() {
	./bpfx rule rm --pin-root "$B/cgl" --json >/dev/null 2>&1 || true
	./bpfx rule rm --pin-root "$B/ccgl" --json >/dev/null 2>&1 || true
	if [ -d "$top" ]; then
		find "$top" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
		rmdir "$top" 2>/dev/null || true
	fi
}
trap cleanup EXIT

links=$((PARENTS * CHILDREN))
echo "-- attach of a cgroup_skb egress program to $links cgroups (--depth 2: $PARENTS parents of $CHILDREN), then again (idempotent), then detach"
mkdir "$top"
for p in $(seq "$PARENTS"); do
	mkdir "$top/p$p"
	for c in $(seq "$CHILDREN"); do mkdir "$top/p$p/c$c"; done
done
# Milliseconds of a command, its output kept in $out/last.json.
t() { local s e; s=$(date +%s%N); "$@" >"$out/last.json"; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
# How many items the last report has in its list $1.
n() { "$DENO" eval --no-check "console.log(JSON.parse(Deno.readTextFileSync('$out/last.json')).$1.length)"; }
attach=(./bpfx rule add "$OBJ:egress_count" --cgroup-root "$top" --depth 2 --pin-root "$B/cgl" --name egress --json)
first=$(t "${attach[@]}")
made=$(n made)
second=$(t "${attach[@]}")
kept=$(n kept)
third=$(t ./bpfx rule rm --pin-root "$B/cgl" --json)
# The C floor, in the same run: libbpf, bpf_link_create and a pin per
# cgroup (build/bench/cgroup_links_c, from bench/cgroup_links_c.c).
read -r c_made c_ms < <(build/bench/cgroup_links_c "$OBJ" egress_count "$top" 2 "$B/ccgl" egress)
c_detach=$(t ./bpfx rule rm --pin-root "$B/ccgl" --json)
printf '%-44s %8s\n' "operation (whole process)" "ms"
printf '%-44s %8s\n' "attach, $made links made" "$first"
printf '%-44s %8s\n' "C floor (libbpf), $c_made links made" "$c_ms"
printf '%-44s %8s\n' "attach again (loaded again), $kept kept" "$second"
printf '%-44s %8s\n' "detach, all removed" "$third"
printf '%-44s %8s\n' "detach of the C floor's links" "$c_detach"

echo
echo "-- the watcher: mkdir -> its link attached, $LATENCY cgroups"
"$DENO" run -A --no-check bench/cgroup_watch.ts "$LATENCY"
