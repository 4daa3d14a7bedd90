#!/usr/bin/env bash
# Part of bench/run.sh: `bpfx serve`'s scrapes. Args: BPFFS OUT RUNS.
# A scrape of a rule's views over 10,000 cgroups beside a C loop reading the
# same files; a scrape of a 100,000-entry hash map as a labelled counter
# beside entries() over the same map; the peak RSS of each (its own
# process, /usr/bin/time).
set -euo pipefail
B=$1
out=$2
RUNS=$3
DENO=${DENO:-node_modules/.bin/deno}
CGROUPS=${CGROUPS:-10000}
ENTRIES=${ENTRIES:-100000}
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
top="$CG2/bpfxbench-metrics-$$"
export BPFX_STATE="$out/metrics-state"
mkdir -p "$BPFX_STATE"
cleanup() {
	./bpfx rule rm --pin-root "$B/mviews" --expose-root "$out/mmirror" --json >/dev/null 2>&1 || true
	if [ -d "$top" ]; then
		find "$top" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
		rmdir "$top" 2>/dev/null || true
	fi
}
trap cleanup EXIT

mkdir "$top"
parents=$(((CGROUPS + 99) / 100))
for p in $(seq "$parents"); do
	mkdir "$top/p$p"
	for c in $(seq 99); do
		[ $((p * 100 + c - 100)) -le "$CGROUPS" ] && mkdir "$top/p$p/c$c"
	done
done
total=$(find "$top" -type d | wc -l)
mkdir -p "$out/mmirror"
./bpfx rule add build/examples/cgstat.bpf.o:cgstat --cgroup-root "$top" --pin-root "$B/mviews" \
	--expose-root "$out/mmirror" --name stat --json >/dev/null
find "$B/mviews" -name stat >"$out/views.txt"
files=$(wc -l <"$out/views.txt")
echo "-- a scrape of rule \"stat\" over $total cgroups ($files views), beside a C read(2) loop over the same files"
# Peak RSS in KiB of the command (its last line: the command's own output
# may not end the file).
# (run to a file, then read: a process substitution would let the RSS be
# read before time(1) writes it.)
tm() { /usr/bin/time -f %M -o "$out/rss" "$@" >"$out/tm.out" && cat "$out/tm.out"; }
# rows NAME MS MIB READ NAME MS MIB READ: the table of two figures.
rows() {
	printf '%-44s %10s %10s %12s\n' "one pass (median of $RUNS)" "ms" "peak MiB" "read" \
		"$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8"
}
rss_mib() { echo $(($(tail -n 1 "$out/rss") / 1024)); }
tm build/bench/metrics_c "$out/views.txt" "$RUNS" >/dev/null
read -r c_ms c_files c_bytes <"$out/tm.out"
c_rss=$(rss_mib)
tm "$DENO" run -A --no-check bench/metrics_scrape.ts rule "$B/mviews" "$RUNS" >/dev/null
read -r s_ms s_series <"$out/tm.out"
s_rss=$(rss_mib)
rows "bpfx scrape (collect + text format)" "$s_ms" "$s_rss" "$s_series series" \
	"C read(2) loop" "$c_ms" "$c_rss" "$c_files files"
awk -v a="$s_ms" -v b="$c_ms" 'BEGIN { printf "scrape / C: %.2fx (goal: within 2x); C read %d bytes a pass\n", a / b, '"$c_bytes"' }'

echo
echo "-- a scrape of a $ENTRIES-entry hash map as a labelled counter, beside entries() over the same map"
# A state directory without rules: the scrape's own bpfx_rule_cgroups would
# otherwise walk the 10,000 cgroups of the rule above.
BPFX_STATE="$out/metrics-empty-state"
mkdir -p "$BPFX_STATE"
./bpfx load build/tests/metrics.bpf.o --pin "$B/mm" --json >/dev/null
"$DENO" run -A --no-check bench/metrics_scrape.ts fill "$B/mm/maps/decoded" "$ENTRIES"
tm "$DENO" run -A --no-check bench/metrics_scrape.ts map "$B/mm/maps/decoded" "$RUNS" >/dev/null
read -r m_ms m_series <"$out/tm.out"
m_rss=$(rss_mib)
tm "$DENO" run -A --no-check bench/metrics_scrape.ts entries "$B/mm/maps/decoded" "$RUNS" >/dev/null
read -r e_ms e_count <"$out/tm.out"
e_rss=$(rss_mib)
rows "bpfx scrape (collect + text format)" "$m_ms" "$m_rss" "$m_series series" \
	"entries() (BTF-decoded pairs)" "$e_ms" "$e_rss" "$e_count entries"
awk -v a="$m_ms" -v b="$e_ms" 'BEGIN { printf "scrape / entries(): %.2fx (goal: within 1.5x)\n", a / b }'
./bpfx unpin -r "$B/mm" --json >/dev/null
