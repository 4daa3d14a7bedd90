#!/usr/bin/env bash
# Installs what bpfx's build needs and is missing: Debian packages, then
# node_modules. Idempotent; prints nothing and takes well under a second when
# everything is already there.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages the build, the examples, the tests and the benchmarks use
# (runc and busybox-static: the container tests run busybox under runc;
# libseccomp-dev and systemd: the unit test builds the unit's seccomp filter
# from `systemd-analyze syscall-filter`; prometheus, with promtool: the
# metrics tests scrape `bpfx serve` with a real Prometheus).
PACKAGES=(
	clang llvm bpftool libbpf-dev libelf-dev libc6-dev
	xdp-tools hyperfine util-linux make gcc pkg-config time
	runc busybox-static libseccomp-dev systemd prometheus
)

missing=()
# One dpkg-query for all packages; an unknown package is simply "not installed".
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null |
	awk '$NF == "installed" { sub(/:.*/, "", $1); print $1 }' || true)
for p in "${PACKAGES[@]}"; do
	grep -qx -- "$p" <<<"$installed" || missing+=("$p")
done

if ((${#missing[@]})); then
	echo "deps: installing ${missing[*]}" >&2
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		if command -v sudo >/dev/null; then
			sudo=(sudo)
		else
			echo "deps: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
			exit 1
		fi
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
	if [[ -x $HOME/.cargo/bin/cargo ]]; then
		echo "deps: cargo is in $HOME/.cargo/bin but not on PATH: add it (source \$HOME/.cargo/env)" >&2
	else
		echo "deps: cargo not found: install Rust >= 1.87 (rustup, or Debian's cargo if new enough)" >&2
	fi
	exit 1
fi

# node_modules: (re)install when it is missing or older than the lock file.
if [[ -f package.json ]]; then
	if ! command -v npm >/dev/null; then
		echo "deps: npm not found: install Node.js >= 20 with npm" >&2
		exit 1
	fi
	stale=0
	if [[ ! -d node_modules ]]; then
		stale=1
	elif [[ -f package-lock.json ]]; then
		[[ package-lock.json -nt node_modules ]] && stale=1
	else
		[[ package.json -nt node_modules ]] && stale=1
	fi
	if ((stale)); then
		npm_flags=(--no-audit --no-fund --loglevel=error)
		if [[ -f package-lock.json ]]; then
			echo "deps: npm ci" >&2
			npm ci "${npm_flags[@]}" >/dev/null
		else
			echo "deps: npm install" >&2
			npm install "${npm_flags[@]}" >/dev/null
		fi
		# npm does not always change the directory's mtime: mark it fresh.
		mkdir -p node_modules && touch node_modules
	fi
fi
