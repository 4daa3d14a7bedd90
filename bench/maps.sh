#!/usr/bin/env bash
# Maps: per-operation get and set through mod.ts beside C (libbpf) on the
# same pin, entries() beside C's batch lookup (bench/maps.ts), then
# `bpfx map dump --json` of 1,000,000 entries beside `bpftool -j map dump`
# as whole processes, with the peak RSS of each.
#
# Usage: bash bench/maps.sh [RUNS]   (needs root; run from anywhere)
# Needs build/examples/maps.bpf.o and build/bench/maps_c (`make all
# build/bench/maps_c`), hyperfine, bpftool. Mounts a private bpffs of its
# own and removes it on exit, even on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DENO=${DENO:-node_modules/.bin/deno}
RUNS=${1:-${RUNS:-5}}
N=${N:-1000000}
OBJ=build/examples/maps.bpf.o
MAPS_C=build/bench/maps_c
for f in "$OBJ" "$MAPS_C"; do
	if [ ! -e "$f" ]; then
		echo "bench/maps.sh: $f is missing: run \`make all build/bench/maps_c\`" >&2
		exit 1
	fi
done

M=$(mktemp -d /tmp/bpfxmaps-XXXXXXXX)
out=$(mktemp -d /tmp/bpfxmaps-out-XXXXXXXX)
cleanup() {
	if grep -q " $M " /proc/self/mountinfo; then umount "$M"; fi
	rmdir "$M" 2>/dev/null || true
	rm -rf "$out"
}
trap cleanup EXIT
mount -t bpf bpf "$M"

./bpfx load "$OBJ" --pin "$M/m" --pin-by-name-root "$M" --json >/dev/null
PIN=$M/m/maps/counts

echo "-- map operations through the API, beside C (libbpf) on the same pin"
"$DENO" run -A --no-check bench/maps.ts "$PIN" "$MAPS_C" "$N"

echo
echo "-- dump of $N entries as JSON, whole processes (output to /dev/null)"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$out/dump.json" \
	-n 'bpfx map dump --json' "./bpfx map dump $PIN --json" \
	-n 'bpftool -j map dump' "bpftool -j map dump pinned $PIN" >/dev/null

# Peak RSS in KiB: /usr/bin/time -v when there is one, else the last VmHWM
# read from /proc while the process runs.
peak_rss() {
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -v "$@" 2>&1 >/dev/null |
			awk -F': ' '/Maximum resident set size/ { print $2 }'
		return
	fi
	"$@" >/dev/null &
	local pid=$! hwm=0 v
	while kill -0 "$pid" 2>/dev/null; do
		v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
		[ -n "$v" ] && hwm=$v
		sleep 0.005
	done
	wait "$pid"
	echo "$hwm"
}
rss_bpfx=$(peak_rss ./bpfx map dump "$PIN" --json)
rss_bpftool=$(peak_rss bpftool -j map dump pinned "$PIN")
bytes_bpfx=$(./bpfx map dump "$PIN" --json | wc -c)
bytes_bpftool=$(bpftool -j map dump pinned "$PIN" | wc -c)

"$DENO" run -A --no-check - "$out/dump.json" "$rss_bpfx" "$rss_bpftool" \
	"$bytes_bpfx" "$bytes_bpftool" <<'EOF'
const [file, rssBpfx, rssTool, bytesBpfx, bytesTool] = Deno.args;
const { results } = JSON.parse(await Deno.readTextFile(file!)) as {
  results: { command: string; median: number; min: number }[];
};
const [bpfx, tool] = results as [typeof results[0], typeof results[0]];
const mb = (kb: string) => `${(Number(kb) / 1024).toFixed(1)} MiB`;
console.log(
  `${"command".padEnd(24)} ${"median ms".padStart(9)} ${"min ms".padStart(7)} ${
    "peak RSS".padStart(10)
  } ${"output".padStart(9)}`,
);
for (const [r, rss, bytes] of [[bpfx, rssBpfx, bytesBpfx], [tool, rssTool, bytesTool]] as const) {
  console.log(
    `${r.command.padEnd(24)} ${(r.median * 1000).toFixed(0).padStart(9)} ${
      (r.min * 1000).toFixed(0).padStart(7)
    } ${mb(rss!).padStart(10)} ${`${(Number(bytes) / 1e6).toFixed(0)} MB`.padStart(9)}`,
  );
}
const speedup = tool.median / bpfx.median;
console.log(
  `bpfx map dump is ${speedup.toFixed(2)}x faster than bpftool (target: at least 5x) ${
    speedup >= 5 ? "ok" : "MISSED"
  }`,
);
EOF
