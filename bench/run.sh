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
echo "== 2. Cold start: bpfx ls --json, bpftool -j prog show, Deno hello world (whole processes)"
# Something to list: the example object's pins.
./bpfx load "$OBJ" --pin "$B/hello" --pin-by-name-root "$B" --json >/dev/null
printf 'console.log("hello");\n' >"$out/hello.ts"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$out/start.json" \
	-n 'bpfx ls --json' "./bpfx ls $B --json" \
	-n 'bpftool -j prog show' "bpftool -j prog show" \
	-n 'deno hello world' "$DENO run --no-check $out/hello.ts" >/dev/null
"$DENO" run -A --no-check bench/table.ts "$out/start.json" 'deno hello world'

echo
echo "== 3. Load and pin multi-program objects: bpfx against bpftool prog loadall"
# In a private mount namespace with its own bpffs at /sys/fs/bpf, so that
# by-name maps (which bpftool always pins under /sys/fs/bpf) stay private.
unshare -m --propagation private bash bench/load_ns.sh "$RUNS" "$out"

echo
echo "== 4. Views"
bash bench/views.sh "$B" "$out" "$RUNS"

echo
echo "== 5. Expose and watch"
"$DENO" run -A --no-check bench/watch.ts
echo
"$DENO" run -A --no-check bench/harden.ts

echo
echo "== 6. Maps"
bash bench/maps.sh "$RUNS"
