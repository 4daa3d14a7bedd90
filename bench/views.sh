#!/usr/bin/env bash
# Part of bench/run.sh: views. Args: BPFFS OUT RUNS.
set -euo pipefail
B=$1
out=$2
RUNS=$3
DENO=${DENO:-node_modules/.bin/deno}
THREADS=${THREADS:-5000}
CGROUPS=${CGROUPS:-10000}
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
top="$CG2/bpfxbench-$$"
fifo="$out/threads.fifo"
thr_pid=
cleanup() {
	if [ -n "$thr_pid" ]; then kill "$thr_pid" 2>/dev/null || true; fi
	exec 7>&- 2>/dev/null || true
	if [ -d "$top" ]; then
		find "$top" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
		rmdir "$top" 2>/dev/null || true
	fi
}
trap cleanup EXIT

echo "-- bpfx cat of a task view over $THREADS threads, beside cat of the same pin and a Deno hello world"
mkfifo "$fifo"
python3 bench/threads.py "$THREADS" <"$fifo" >"$out/threads.pid" &
thr_pid=$!
exec 7>"$fifo"
for _ in $(seq 100); do [ -s "$out/threads.pid" ] && break; sleep 0.1; done
pid=$(cat "$out/threads.pid")
./bpfx view build/examples/tasks.bpf.o:tasks "$B/tv" --pid "$pid" >/dev/null
lines=$(cat "$B/tv" | wc -l)
echo "(the view prints $lines lines)"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$out/cat.json" \
	-n 'bpfx cat' "./bpfx cat $B/tv" \
	-n 'cat' "cat $B/tv" \
	-n 'deno hello world' "$DENO run --no-check $out/hello.ts" >/dev/null
"$DENO" run -A --no-check bench/table.ts "$out/cat.json" 'cat'
"$DENO" run -A --no-check bench/cat_target.ts "$out/cat.json"

echo
echo "-- reading the same view through the API, beside a read(2) loop in C"
"$DENO" run -A --no-check bench/view_read.ts "$B/tv" 50 build/bench/readview
kill "$thr_pid" 2>/dev/null || true
thr_pid=
rm -f "$B/tv"

echo
echo "-- attach over $CGROUPS cgroups (100 per parent), then again (idempotent), then detach"
mkdir "$top"
parents=$(((CGROUPS + 99) / 100))
for p in $(seq "$parents"); do
	mkdir "$top/p$p"
	for c in $(seq 99); do
		[ $((p * 100 + c - 100)) -le "$CGROUPS" ] && mkdir "$top/p$p/c$c"
	done
done
total=$(find "$top" -type d | wc -l)
echo "(the subtree has $total cgroups)"
mkdir -p "$out/mirror"
t() { local s e; s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
first=$(t ./bpfx rule add build/examples/cgstat.bpf.o:cgstat --cgroup-root "$top" --pin-root "$B/views" --expose-root "$out/mirror" --name stat --json)
second=$(t ./bpfx rule add build/examples/cgstat.bpf.o:cgstat --cgroup-root "$top" --pin-root "$B/views" --expose-root "$out/mirror" --name stat --json)
made=$(find "$out/mirror" -name stat | wc -l)
third=$(t ./bpfx rule rm --pin-root "$B/views" --expose-root "$out/mirror" --json)
# The C floor, in the same run: libbpf, one self-order link per cgroup,
# pinned and symlinked (build/bench/attach_c, from bench/attach_c.c).
mkdir -p "$out/cmirror"
read -r c_made c_ms < <(build/bench/attach_c build/examples/cgstat.bpf.o cgstat "$top" "$B/cviews" "$out/cmirror" stat)
./bpfx rule rm --pin-root "$B/cviews" --expose-root "$out/cmirror" --json >/dev/null
printf '%-40s %8s\n' "operation (whole process)" "ms"
printf '%-40s %8s\n' "attach, $total views made" "$first"
printf '%-40s %8s\n' "C floor (libbpf), $c_made views made" "$c_ms"
printf '%-40s %8s\n' "attach again, all kept" "$second"
printf '%-40s %8s\n' "detach, all removed" "$third"
echo "(mirror files after the first attach: $made)"
