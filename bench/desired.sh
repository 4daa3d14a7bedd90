#!/usr/bin/env bash
# Part of bench/run.sh: the desired-state file. Args: BPFFS OUT RUNS.
#
# A file of one object, 1,000 views (each of its own cgroup) and 100 view
# rules over 100 subtrees of 101 cgroups (10,100 cgroups in all):
# - plan against the converged host, beside its floor: listing the same pins
#   (ls -R of the bpffs) and walking the same cgroups (find), in one process,
#   and a Deno hello world (the start-up every bpfx command pays);
# - apply on an empty host, beside the sum of the single commands that make
#   the same set-up (bpfx load, 1,000 bpfx view, 100 bpfx rule add), run
#   alternately, ROUNDS times (default 1), medians when more; ROUNDS=0
#   times the plan alone.
# Everything lives in the bench's bpffs, a cgroup subtree, a state
# directory and a mirror of its own, removed on exit, even on failure.
set -euo pipefail
B=$1
out=$2
RUNS=$3
ROUNDS=${ROUNDS:-1}
VIEWS=${VIEWS:-1000}
RULES=${RULES:-100}
PER=${PER:-100}
DENO=${DENO:-node_modules/.bin/deno}
OBJ=$PWD/build/examples/cgstat.bpf.o
# shellcheck source=bench/_cgroups.sh
. bench/_cgroups.sh
CG2=$(cgroup2_mount)
top="$CG2/bpfxbench-desired-$$"
work="$out/desired"
state="$work/state"
file="$work/host.yaml"
empty="$work/empty.yaml"

cleanup() {
	# An empty file removes what the file made; the bpffs unmount in
	# run.sh drops whatever a failed run left pinned.
	if [ -f "$empty" ] && [ -d "$state" ]; then
		BPFX_STATE=$state ./bpfx apply "$empty" >/dev/null 2>&1 || true
	fi
	for d in "$B/dv" "$B/dr" "$B/do" "$B/sv" "$B/sr" "$B/so"; do
		if [ -e "$d" ]; then ./bpfx unpin -r "$d" >/dev/null 2>&1 || true; fi
	done
	remove_cgroup_tree "$top"
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work" "$state"
# Apply makes an object's pin directory, not a view's parent (bpfx view
# does not either).
mkdir "$B/dv" "$B/dr"
mkdir "$top"
for r in $(seq -w 0 $((RULES - 1))); do
	mkdir "$top/r$r"
	for c in $(seq -w 1 "$PER"); do mkdir "$top/r$r/c$c"; done
done
total=$(find "$top" -mindepth 1 -type d | wc -l)

# The file: views over the first VIEWS cgroups, a rule per subtree.
{
	echo "name: bench"
	echo "objects:"
	echo "  - { name: cgstat, path: $OBJ, pinDir: $B/do }"
	echo "views:"
	n=0
	for d in "$top"/r*/c[0-9]*; do
		[ "$n" -lt "$VIEWS" ] || break
		echo "  - { name: v$n, object: cgstat, program: cgstat, pin: $B/dv/v$n, target: { cgroup: $d } }"
		n=$((n + 1))
	done
	echo "rules:"
	for d in "$top"/r[0-9]*; do
		r=${d##*/}
		echo "  - { name: $r, object: cgstat, program: cgstat, cgroupRoot: $d, pinRoot: $B/dr/$r, exposeRoot: $work/mirror/$r }"
	done
} >"$file"
echo "name: bench" >"$empty"
echo "(the file: 1 object, $VIEWS views, $RULES rules over $total cgroups; $(wc -c <"$file") bytes)"

ms() { local s e; s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(((e - s) / 1000000)); }

# The same set-up by single commands, into pins of their own (s*).
singles() {
	./bpfx load "$OBJ" --pin "$B/so" >/dev/null
	mkdir "$B/sv" "$B/sr"
	local n=0 d r
	for d in "$top"/r*/c[0-9]*; do
		[ "$n" -lt "$VIEWS" ] || break
		./bpfx view "$B/so/cgstat" "$B/sv/v$n" --cgroup "$d" >/dev/null
		n=$((n + 1))
	done
	for d in "$top"/r[0-9]*; do
		r=${d##*/}
		BPFX_STATE=$state ./bpfx rule add "$B/so/cgstat" --cgroup-root "$d" --pin-root "$B/sr/$r" \
			--expose-root "$work/smirror/$r" --name "$r" >/dev/null
	done
}
unsingles() {
	local d
	for d in "$top"/r[0-9]*; do
		BPFX_STATE=$state ./bpfx rule rm --pin-root "$B/sr/${d##*/}" --expose-root "$work/smirror/${d##*/}" >/dev/null
	done
	./bpfx unpin -r "$B/sv" >/dev/null
	./bpfx unpin -r "$B/so" >/dev/null
	rmdir "$B/sv" "$B/sr" 2>/dev/null || true
}

applies=()
sums=()
for _ in $(seq "$ROUNDS"); do
	applies+=("$(BPFX_STATE=$state ms ./bpfx apply "$file")")
	BPFX_STATE=$state ./bpfx apply "$empty" >/dev/null
	sums+=("$(ms singles)")
	unsingles
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# Converge once more for the plan.
BPFX_STATE=$state ./bpfx apply "$file" >/dev/null
pins=$(find "$B/dv" "$B/dr" "$B/do" -type f | wc -l)
mirror=$(find "$work/mirror" -type l | wc -l)
echo "(converged: $pins pins, $mirror mirror files)"
printf 'console.log("hello");\n' >"$work/hello.ts"
BPFX_STATE=$state hyperfine -N --warmup 1 --runs "${PLAN_RUNS:-$RUNS}" --export-json "$work/plan.json" \
	-n 'bpfx plan (converged)' "./bpfx plan $file" \
	-n 'ls -R pins + find cgroups' "sh -c 'ls -R $B/dv $B/dr $B/do >/dev/null; find $top -type d >/dev/null'" \
	-n 'deno hello world' "$DENO run --no-check $work/hello.ts" >/dev/null
"$DENO" run -A --no-check bench/table.ts "$work/plan.json" 'ls -R pins + find cgroups'
[ "$ROUNDS" -gt 0 ] || exit 0
echo
printf '%-52s %10s\n' "apply on an empty host (whole process, rounds: $ROUNDS)" "ms"
printf '%-52s %10s\n' "bpfx apply FILE" "$(median "${applies[@]}")"
printf '%-52s %10s\n' "floor: the single commands (1 load, $VIEWS view, $RULES rule add)" "$(median "${sums[@]}")"
