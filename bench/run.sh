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
# xdp-tools' dispatcher: a real third-party object with two programs and a
# .rodata map. (bpftool cannot load the example: its by-name map would go to
# /sys/fs/bpf, and bpftool has no option to move it.)
MULTI=/usr/lib/x86_64-linux-gnu/bpf/xdp-dispatcher.o
echo "== 3. Load and pin a real multi-program object ($MULTI): bpfx against bpftool prog loadall"
# Each run loads into a fresh directory; the prepare step removes the last one.
hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$out/load.json" \
	--prepare "rm -rf $B/l" \
	-n 'bpfx load (whole process)' "./bpfx load $MULTI --pin $B/l" \
	--prepare "rm -rf $B/t" \
	-n 'bpftool prog loadall' "bpftool prog loadall $MULTI $B/t" >/dev/null 2>&1
"$DENO" run -A --no-check bench/table.ts "$out/load.json" 'bpftool prog loadall'
"$DENO" run -A --no-check bench/load_inprocess.ts "$MULTI" "$B" "$RUNS"
