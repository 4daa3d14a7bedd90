#!/usr/bin/env bash
# Part of bench/run.sh: runs inside `unshare -m`, with a private bpffs at
# /sys/fs/bpf. Compares loading and pinning with bpfx and bpftool.
set -euo pipefail
RUNS=$1
out=$2
DENO=${DENO:-node_modules/.bin/deno}
mount -t bpf bpf /sys/fs/bpf
B=/sys/fs/bpf
# xdp-tools' dispatcher: two programs, a .rodata map, no CO-RE relocations.
# hello.bpf.o: three programs (tracepoint, kprobe, iter/task), CO-RE, four
# maps, one pinned by name.
# cgtasks.bpf.o: five kfunc calls (css_task iterator, RCU) and
# kconfig.bpf.o: seven __kconfig values, both linked by bpfx's extern pass
# (kernel BTF, kallsyms and /proc/config.gz read) before aya loads them.
for obj in /usr/lib/x86_64-linux-gnu/bpf/xdp-dispatcher.o build/examples/hello.bpf.o \
	build/examples/cgtasks.bpf.o build/examples/kconfig.bpf.o; do
	echo "-- $obj"
	hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$out/load.json" \
		--prepare "rm -rf $B/l $B/t $B/hello_total" \
		-n 'bpfx load (whole process)' "./bpfx load $obj --pin $B/l" \
		--prepare "rm -rf $B/l $B/t $B/hello_total" \
		-n 'bpftool prog loadall' "bpftool prog loadall $obj $B/t" >/dev/null 2>&1
	"$DENO" run -A --no-check bench/table.ts "$out/load.json" 'bpftool prog loadall'
	rm -rf "$B/l" "$B/t" "$B/hello_total"
	"$DENO" run -A --no-check bench/load_inprocess.ts "$obj" "$B" "$RUNS"
	rm -rf "$B/hello_total"
done
