#!/usr/bin/env bash
# The bpfx workflow, end to end, in a private bpffs that this script mounts
# and always removes: inspect an object, load and pin it, list, show, unpin,
# and check that the host is left as it was. Needs root. Run `make demo`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BPFX=${BPFX:-$ROOT/bpfx}
OBJ=${OBJ:-build/examples/hello.bpf.o}
# Names from examples/hello.bpf.c.
PROG=count_exec
MAP=exec_counts
BYNAME_MAP=hello_total

cd "$ROOT"

[[ $(id -u) -eq 0 ]] || { echo "demo: needs root (it mounts a bpffs and loads BPF programs)" >&2; exit 1; }
[[ -x $BPFX ]] || { echo "demo: no bpfx launcher at $BPFX" >&2; exit 1; }
[[ -f $OBJ ]] || { echo "demo: $OBJ is missing: run make" >&2; exit 1; }

# bpffs refuses names with a dot: the template is dot-free (mktemp's X are alphanumeric).
B=$(mktemp -d /tmp/bpfxdemo-XXXXXXXX)
# The views part: a cgroup subtree of the demo's own under the cgroup2 mount
# (found in mountinfo, never assumed), a mirror and a state directory.
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=${CG2:+$CG2/bpfxdemo-$$}
M=$(mktemp -d /tmp/bpfxdemo-mirror-XXXXXXXX)
S=$(mktemp -d /tmp/bpfxdemo-state-XXXXXXXX)
sleeper=
watcher=

mounted_at() { awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	[[ -n $watcher ]] && kill "$watcher" 2>/dev/null && wait "$watcher" 2>/dev/null
	[[ -n $sleeper ]] && kill "$sleeper" 2>/dev/null && wait "$sleeper" 2>/dev/null
	if [[ -n $CG && -d $CG ]]; then
		find "$CG" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
		rmdir "$CG"
	fi
	rm -rf "$M" "$S"
	# Unmounting drops every pin left in the private bpffs with it.
	while mounted_at "$B"; do umount "$B" || break; done
	[[ -d $B ]] && rmdir "$B"
	echo
	if mounted_at "$B" || [[ -e $B || -e $M || -e $S ]] || [[ -n $CG && -e $CG ]]; then
		echo "demo: host NOT restored: $B, $M, $S or $CG is still there" >&2
		rc=1
	else
		echo "demo: host is as it was: no mount at $B, no demo cgroup, mirror or state directory"
	fi
	if ((rc == 0)); then echo "demo: ok"; else echo "demo: FAILED (status $rc)" >&2; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# step CMD...: echoes CMD, readably, then runs it.
step() {
	local shown=("$@")
	[[ ${shown[0]} == "$BPFX" ]] && shown[0]=bpfx
	echo
	echo "\$ ${shown[*]}"
	"$@"
}

step mount -t bpf bpf "$B"
step "$BPFX" inspect "$OBJ"
step "$BPFX" load "$OBJ" --pin "$B/hello" --pin-by-name-root "$B"
step "$BPFX" ls "$B"
step "$BPFX" show "$B/hello/$PROG"
step "$BPFX" show "$B/hello/maps/$MAP"
step "$BPFX" show "$B/$BYNAME_MAP"
step "$BPFX" unpin "$B/hello" --recursive
step "$BPFX" unpin "$B/$BYNAME_MAP"
step "$BPFX" ls "$B"
# Only the kernel's own maps.debug/progs.debug (CONFIG_BPF_PRELOAD) may remain.
left=$(find "$B" -mindepth 1 ! -name '*.debug')
if [[ -n $left ]]; then
	echo "demo: pins left behind in $B:" >&2
	echo "$left" >&2
	exit 1
fi
echo "(nothing left in $B but the kernel's own *.debug files)"

# Views: a file per cgroup whose read runs a BPF program (examples/cgstat.bpf.c).
if [[ -z $CG2 ]]; then
	echo "demo: no cgroup2 mount: skipping the views part" >&2
else
	echo
	echo "== views: one cgstat view per cgroup of a small subtree, in a mirror of the cgroup tree"
	step mkdir -p "$CG/web/frontend" "$CG/web/backend" "$CG/batch"
	sleep 300 &
	sleeper=$!
	echo "$sleeper" >"$CG/web/backend/cgroup.procs"
	step "$BPFX" rule add build/examples/cgstat.bpf.o:cgstat --cgroup-root "$CG" \
		--pin-root "$B/views" --expose-root "$M" --name cgstat --state "$S"
	step find "$M" -name cgstat
	step cat "$M/web/backend/cgstat"
	echo "(cgroup id of web/backend: $(stat -c %i "$CG/web/backend"))"
	step "$BPFX" cat "$M/batch/cgstat"
	step mkdir "$CG/batch/nightly"
	step "$BPFX" rule add build/examples/cgstat.bpf.o:cgstat --cgroup-root "$CG" \
		--pin-root "$B/views" --expose-root "$M" --name cgstat --state "$S"
	step "$BPFX" view build/examples/tasks.bpf.o:tasks "$B/sleeper" --pid "$sleeper"
	step "$BPFX" cat "$B/sleeper"

	echo
	echo "== expose and watch: an exposure outside bpffs goes when its pin goes"
	step "$BPFX" expose "$B/sleeper" "$M/sleeper-tasks" --state "$S"
	step "$BPFX" exposures --state "$S"
	echo
	echo "\$ bpfx watch --state $S &"
	"$BPFX" watch --state "$S" &
	watcher=$!
	for _ in $(seq 50); do [[ -e $S/watch.lock ]] && break; sleep 0.1; done
	sleep 0.5
	step rm "$B/sleeper"
	for _ in $(seq 50); do [[ -L $M/sleeper-tasks ]] || break; sleep 0.05; done
	step ls -la "$M"
	step mkdir "$CG/batch/adhoc"
	for _ in $(seq 50); do [[ -L $M/batch/adhoc/cgstat ]] && break; sleep 0.05; done
	step cat "$M/batch/adhoc/cgstat"
	kill -TERM "$watcher"
	wait "$watcher"
	watcher=
	step "$BPFX" exposures --state "$S"
	step "$BPFX" rule rm --pin-root "$B/views" --expose-root "$M" --state "$S"
	left=$(find "$M" -mindepth 1)
	if [[ -n $left ]]; then
		echo "demo: mirror files left behind:" >&2
		echo "$left" >&2
		exit 1
	fi
fi
step umount "$B"
