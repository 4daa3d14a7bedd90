#!/usr/bin/env bash
# Part of bench/run.sh: one node's figures for the Kubernetes page. Args:
# BPFFS OUT RUNS. The DaemonSet's command, `bpfx watch --config FILE --serve
# ADDR`, run as a process of its own on this host (the pod runs the same
# command, tests/k8s_test.ts plays it), with a bpffs, cgroup subtree, state
# directory and mirror of the bench's own:
# - start-up to ready (/healthz answers 200 after the first apply), for the
#   ConfigMap's example file over a subtree of 100 cgroups, and for a file of
#   1,000 views; beside a Deno hello world in the same run;
# - memory (VmRSS) at rest, and its peak (VmHWM) under a burst of 10,000
#   cgroup mkdirs below the rule's root, until the mirror holds them all;
# - what Prometheus pays per node: series and bytes of one scrape.
set -euo pipefail
B=$1
out=$2
RUNS=$3
DENO=${DENO:-node_modules/.bin/deno}
BURST=${BURST:-10000}
# shellcheck source=bench/_cgroups.sh
. bench/_cgroups.sh
CG2=$(cgroup2_mount)
top="$CG2/bpfxbench-node-$$"
work="$out/node"
pid=
ms=

stop() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pid=
	fi
}
cleanup() {
	stop
	for f in "$work"/*.yaml; do
		[ -f "$f" ] || continue
		printf 'name: %s\n' "$(sed -n 's/^name: //p' "$f" | head -1)" >"$work/empty.yaml"
		BPFX_STATE=$work/state ./bpfx apply "$work/empty.yaml" >/dev/null 2>&1 || true
	done
	remove_cgroup_tree "$top"
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/state" "$B/node"
mkdir "$top" "$top/pods"
for i in $(seq -w 1 99); do mkdir "$top/pods/p$i"; done
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The ConfigMap's file (contrib/k8s/configmap.yaml), its paths made the
# bench's own: the same objects, view, rule, exposure and metrics.
sed -n '/^  bpfx.yaml: |$/,$p' contrib/k8s/configmap.yaml | tail -n +2 | sed 's/^    //' |
	sed -e "s|/usr/share/bpfx/examples|$PWD/build/examples|" \
		-e "s|/sys/fs/bpf/bpfx|$B/node|g" \
		-e "s|cgroupRoot: /sys/fs/cgroup|cgroupRoot: $top/pods|" \
		-e "s|/run/bpfx-views|$work/views|g" >"$work/example.yaml"
grep -q "cgroupRoot: $top/pods" "$work/example.yaml" || {
	echo "node.sh: contrib/k8s/configmap.yaml no longer has the rule this bench expects" >&2
	exit 1
}
# 1,000 views, one per cgroup of a second subtree, and the same metrics.
mkdir "$top/many"
{
	echo "name: many"
	echo "objects:"
	echo "  - { name: cgstat, path: $PWD/build/examples/cgstat.bpf.o, pinDir: $B/node/many }"
	echo "views:"
	for i in $(seq -w 0 999); do
		mkdir "$top/many/v$i"
		echo "  - { name: v$i, object: cgstat, program: cgstat, pin: $B/node/many-v$i, target: { cgroup: $top/many/v$i } }"
	done
} >"$work/many.yaml"

rss() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# start FILE: starts the watcher; sets ms to the ms until /healthz said 200.
start() {
	local t0 t1
	t0=$(date +%s%N)
	BPFX_STATE=$work/state ./bpfx watch --json --config "$1" --serve "127.0.0.1:$port" >"$work/watch.log" 2>&1 &
	pid=$!
	until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do
		kill -0 "$pid" 2>/dev/null || {
			cat "$work/watch.log" >&2
			return 1
		}
		sleep 0.005
	done
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# ready FILE: the median start-up to ready over RUNS runs, each after the
# host was emptied of what the file makes (a first start on a new node).
ready() {
	local f=$1 name times=()
	name=$(sed -n 's/^name: //p' "$f" | head -1)
	printf 'name: %s\n' "$name" >"$work/empty.yaml"
	for _ in $(seq "$RUNS"); do
		BPFX_STATE=$work/state ./bpfx apply "$work/empty.yaml" >/dev/null
		start "$f"
		times+=("$ms")
		stop
	done
	median "${times[@]}"
}
printf 'console.log("hello");\n' >"$work/hello.ts"
hello=()
for _ in $(seq "$RUNS"); do
	t0=$(date +%s%N)
	"$DENO" run --no-check "$work/hello.ts" >/dev/null
	hello+=($((($(date +%s%N) - t0) / 1000000)))
done
example_ms=$(ready "$work/example.yaml")
many_ms=$(ready "$work/many.yaml")
BPFX_STATE=$work/state ./bpfx apply "$work/empty.yaml" >/dev/null

# At rest, then a burst of mkdirs below the example rule's root.
start "$work/example.yaml"
sleep 2
rest=$(rss "$pid" VmRSS)
curl -fs "http://127.0.0.1:$port/metrics" >"$work/scrape.txt"
bytes=$(wc -c <"$work/scrape.txt")
series=$(grep -vc '^#' "$work/scrape.txt")
cgroups=$(find "$top/pods" -type d | wc -l)
mkdir "$top/pods/burst"
t0=$(date +%s%N)
for i in $(seq "$BURST"); do mkdir "$top/pods/burst/b$i"; done
t1=$(date +%s%N)
until [ "$(find "$work/views/cg/burst" -name cgstat 2>/dev/null | wc -l)" -ge $((BURST + 1)) ]; do sleep 0.05; done
t2=$(date +%s%N)
peak=$(rss "$pid" VmHWM)
stop
remove_cgroup_tree "$top/pods/burst"

printf '%-62s %12s\n' "one node (bpfx watch --config FILE --serve ADDR)" "figure"
printf '%-62s %9s ms\n' "start-up to ready, the example file ($cgroups cgroups)" "$example_ms"
printf '%-62s %9s ms\n' "start-up to ready, the 1,000-view file" "$many_ms"
printf '%-62s %9s ms\n' "floor: deno hello world, whole process" "$(median "${hello[@]}")"
printf '%-62s %9s MiB\n' "memory at rest (VmRSS)" "$((rest / 1024))"
printf '%-62s %9s MiB\n' "peak memory under $BURST cgroup mkdirs (VmHWM)" "$((peak / 1024))"
printf '%-62s %9s ms\n' "  the mkdirs, then until the mirror held them all" "$(((t1 - t0) / 1000000)) + $(((t2 - t1) / 1000000))"
printf '%-62s %9s\n' "series in one scrape ($cgroups cgroups)" "$series"
printf '%-62s %9s B\n' "bytes of one scrape (text format)" "$bytes"
printf '%-62s %9s\n' "a 5,000-node fleet: series" "$((series * 5000))"
printf '%-62s %9s MiB\n' "a 5,000-node fleet: bytes per scrape interval" "$((bytes * 5000 / 1048576))"
