#!/usr/bin/env bash
# Runs every test of bpfx: `cargo test -p bpfx-core`, then the Deno tests in
# tests/ (with the kernel required). Shows their output, lists each skipped
# test with its reason (the test gate prints `bpfx-skip: "<name>": <reason>`
# for each test it skips), and ends with exactly one line
# `tests: N passed, M failed, K skipped` summing both. Exits non-zero when a
# test failed, a runner failed, or no test ran at all.
#
# The tests never touch the host's own state: each passes a state directory
# of its own, and as a second guard the whole run has BPFX_STATE set to an
# empty temporary directory, removed at the end. The last test is the host
# check (scripts/host_check.ts): the host's /run/bpfx, /sys/fs/bpf, cgroup2
# tree, mount table and BPF links are as they were before the run, and
# nothing was written in that BPFX_STATE; it counts as one test.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DENO=${DENO:-node_modules/.bin/deno}
export NO_COLOR=1 CARGO_TERM_COLOR=never

log=$(mktemp)
host=$(mktemp)
BPFX_STATE=$(mktemp -d)
export BPFX_STATE
trap 'rm -f "$log" "$host"; rm -rf "$BPFX_STATE"' EXIT

passed=0
failed=0
skipped=0
# One line per skipped test: `<runner>: "<name>": <reason>`.
skips=()

# runner NAME CMD...: runs CMD with its output shown and kept in $log.
# Sets $rc to the exit status.
run() {
	local name=$1
	shift
	echo "== $name: $*"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
}

strip() { sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$log"; }

# A runner that failed without reporting a failed test (build error, crash)
# counts as one failed test, so the summary never hides it.
account() {
	local name=$1 p=$2 f=$3 s=$4
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	if ((rc != 0 && f == 0)); then
		echo "== $name exited with status $rc without a failed test: counted as 1 failed"
		failed=$((failed + 1))
	fi
}

# What the host holds before the run, for the host check at the end.
if ! "$DENO" run -A scripts/host_check.ts snapshot "$host"; then
	echo "== host check: cannot take the snapshot of the host"
	exit 1
fi

# cargo: one `test result: ok. N passed; M failed; ...` line per test binary.
run "cargo test" cargo test -p bpfx-core
read -r p f s < <(strip | awk '
	/^test result:/ {
		for (i = 1; i <= NF; i++) {
			if ($(i+1) ~ /^passed;?$/) p += $i
			if ($(i+1) ~ /^failed;?$/) f += $i
			if ($(i+1) ~ /^ignored;?$/) s += $i
		}
	}
	END { print p + 0, f + 0, s + 0 }')
# cargo: `test NAME ... ignored` or `test NAME ... ignored, REASON`.
while IFS= read -r line; do skips+=("cargo test: $line"); done < <(strip | sed -n \
	-e 's/^test \(.*\) \.\.\. ignored, \(.*\)$/"\1": \2/p' \
	-e 's/^test \(.*\) \.\.\. ignored$/"\1": no reason given/p')
account "cargo test" "$p" "$f" "$s"

# deno: `ok | N passed | M failed (..)` or `FAILED | N passed (k steps) | M failed ...`.
if [[ -d tests ]]; then
	run "deno test" env BPFX_REQUIRE_KERNEL=1 "$DENO" test -A tests/
	read -r p f s < <(strip | awk '
		/^(ok|FAILED) \| [0-9]+ passed/ {
			n = split($0, part, "|")
			for (i = 2; i <= n; i++) {
				if (part[i] ~ /^ *[0-9]+ passed/) { split(part[i], w, " "); p += w[1] }
				if (part[i] ~ /^ *[0-9]+ failed/) { split(part[i], w, " "); f += w[1] }
				if (part[i] ~ /^ *[0-9]+ ignored/) { split(part[i], w, " "); s += w[1] }
			}
		}
		END { print p + 0, f + 0, s + 0 }')
	# Each ignored test (`NAME ... ignored (0ms)`), with the reason the gate
	# printed for it (`bpfx-skip: "NAME": REASON`, the name JSON-quoted).
	while IFS= read -r line; do skips+=("deno test: $line"); done < <(strip | awk '
		index($0, "bpfx-skip: \"") == 1 {
			rest = substr($0, 13)
			name = ""
			for (i = 1; i <= length(rest); i++) {
				c = substr(rest, i, 1)
				if (c == "\\") { name = name substr(rest, i + 1, 1); i++; continue }
				if (c == "\"") break
				name = name c
			}
			why[name] = substr(rest, i + 3)
			next
		}
		/ \.\.\. ignored \([0-9.]+m?s\)$/ {
			name = $0
			sub(/ \.\.\. ignored \([0-9.]+m?s\)$/, "", name)
			order[++n] = name
		}
		END {
			for (i = 1; i <= n; i++) {
				name = order[i]
				printf "\"%s\": %s\n", name, (name in why) ? why[name] : "no reason given"
			}
		}')
	account "deno test" "$p" "$f" "$s"
else
	echo "== deno test: no tests/ directory, skipped"
fi

run "host check" "$DENO" run -A scripts/host_check.ts compare "$host" --empty "$BPFX_STATE"
if ((rc == 0)); then passed=$((passed + 1)); else failed=$((failed + 1)); fi

if ((${#skips[@]} > 0)); then
	echo "== skipped:"
	for line in "${skips[@]}"; do echo "  $line"; done
fi
if ((${#skips[@]} != skipped)); then
	echo "== $skipped tests were skipped, but ${#skips[@]} are listed above"
fi

status=0
((failed > 0)) && status=1
if ((passed + failed == 0)); then
	echo "== no test ran"
	status=1
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
