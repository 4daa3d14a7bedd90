#!/usr/bin/env bash
# bpfx benchmarks: every figure printed beside its peer from the same run.
# Needs root (private bpffs). Leaves nothing behind: the bpffs it mounts is
# unmounted and removed on exit, even on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DENO=${DENO:-node_modules/.bin/deno}
RUNS=${RUNS:-20}
OBJ=build/examples/hello.bpf.o
B=$(mktemp -d /tmp/bpfxbench-XXXXXXXX)
out=$(mktemp -d /tmp/bpfxbench-out-XXXXXXXX)
cleanup() {
	if grep -q " $B " /proc/self/mountinfo; then umount "$B"; fi
	rmdir "$B" 2>/dev/null || true
	rm -rf "$out"
}
trap cleanup EXIT
mount -t bpf bpf "$B"

echo "== 1. One FFI call into the core, against a bare Deno.dlopen call (same process)"
"$DENO" run -A --no-check bench/ffi_call.ts

echo
echo "== 2. Cold start: bpfx commands beside a Deno hello world (whole processes)"
# Something to list, show, read and look up: the example objects' pins, a
# task view and a map entry.
./bpfx load "$OBJ" --pin "$B/hello" --pin-by-name-root "$B" --json >/dev/null
./bpfx load build/examples/maps.bpf.o --pin "$B/maps" --pin-by-name-root "$B" --json >/dev/null
./bpfx map set "$B/maps/maps/counts" 42 7
./bpfx view build/examples/tasks.bpf.o:tasks "$B/tasks" --pid 1 --json >/dev/null
printf 'console.log("hello");\n' >"$out/hello.ts"
# What a CLI on node:util's parseArgs starts in (bpfx's table used it before
# it had a tokenizer of its own): a hello world that parses its arguments.
printf 'import { parseArgs } from "node:util";\nconsole.log(parseArgs({ args: Deno.args, strict: false }).positionals.length);\n' >"$out/parseargs.ts"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$out/start.json" \
	-n 'bpfx --version' "./bpfx --version" \
	-n 'bpfx ls --json' "./bpfx ls $B --json" \
	-n 'bpfx show --json' "./bpfx show $B/hello/count_exec --json" \
	-n 'bpfx map get' "./bpfx map get $B/maps/maps/counts 42" \
	-n 'bpfx cat (task view)' "./bpfx cat $B/tasks" \
	-n 'cat (task view)' "cat $B/tasks" \
	-n 'bpftool -j prog show' "bpftool -j prog show" \
	-n 'deno hello + node:util parseArgs' "$DENO run --no-check $out/parseargs.ts x" \
	-n 'deno hello world' "$DENO run --no-check $out/hello.ts" >/dev/null
"$DENO" run -A --no-check bench/table.ts "$out/start.json" 'deno hello world'
"$DENO" run -A --no-check bench/table.ts "$out/start.json" 'cat (task view)' | sed -n '1p;/^bpfx cat/p'

echo
echo "== 3. Load and pin multi-program objects: bpfx against bpftool prog loadall"
# In a private mount namespace with its own bpffs at /sys/fs/bpf, so that
# by-name maps (which bpftool always pins under /sys/fs/bpf) stay private.
unshare -m --propagation private bash bench/load_ns.sh "$RUNS" "$out"
echo "-- extern resolution alone"
"$DENO" run -A --no-check bench/externs.ts "$RUNS"

echo
echo "== 4. Views"
bash bench/views.sh "$B" "$out" "$RUNS"

echo
echo "== 5. Expose and watch"
"$DENO" run -A --no-check bench/watch.ts
echo
"$DENO" run -A --no-check bench/harden.ts

echo
echo "== 5b. Inside containers: expose --into, and a view per container (runc, busybox)"
"$DENO" run -A --no-check bench/containers.ts

echo
echo "== 6. Maps"
bash bench/maps.sh "$RUNS"

echo
echo "== 7. Pinned links: attach + pin of a probe link, beside libbpf in C"
"$DENO" run -A --no-check bench/links.ts "$B" "$RUNS"

echo
echo "== 8. Cgroup programs over a subtree: links per cgroup, beside libbpf in C, and the watcher"
bash bench/cgroup_links.sh "$B" "$out" "$RUNS"

echo
echo "== 9. The desired-state file: plan of 1,000 views and 100 rules over 10,100 cgroups, and its apply"
bash bench/desired.sh "$B" "$out" "$RUNS"

echo
echo "== 10. Metrics: bpfx serve's scrapes, beside a C loop and entries()"
bash bench/metrics.sh "$B" "$out" "$RUNS"
