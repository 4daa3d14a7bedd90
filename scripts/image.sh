#!/usr/bin/env bash
# make image: the OCI image of the installed copy of bpfx, for the DaemonSet
# of contrib/k8s/ (docs/kubernetes.md).
#
#   1. The base: a root filesystem of Debian's libc6 and libgcc-s1 only (what
#      Deno and the core library link: `ldd`), made by mmdebstrap
#      (--variant=extract: no dpkg, no shell, no maintainer scripts) with
#      everything but those libraries filtered out, and imported with
#      `podman import`. It is tagged by a hash of its recipe below, so it is
#      made again only when the recipe changes.
#   2. The copy: `scripts/install.sh` with DESTDIR and PREFIX=/usr (what
#      `make install` runs), less the systemd unit and the docs, plus the
#      examples' objects in /usr/share/bpfx/examples.
#   3. `podman build` of a Containerfile written here: the copy over the base,
#      the OCI labels, an exec-form entrypoint (no shell: the base has none)
#      made from the command the launcher `bpfx` runs, and the watch command
#      as CMD.
# Tagged localhost/bpfx:VERSION, the name contrib/k8s/daemonset.yaml runs.
# Usage: scripts/image.sh VERSION   (make image; needs root, podman, mmdebstrap)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=${1:?usage: scripts/image.sh VERSION}
name=localhost/bpfx
# The metrics port of `watch --serve` in the image's CMD (`bpfx serve`'s
# default); the DaemonSet's args say the same (tests/k8s_test.ts checks
# that they agree).
port=9445
suite=bookworm
arch=amd64
triple=x86_64-linux-gnu

for tool in podman mmdebstrap; do
	command -v "$tool" >/dev/null || { echo "image: $tool not found: run make deps" >&2; exit 1; }
done
for f in bpfx dist/manifest.json build/examples/cgstat.bpf.o; do
	[[ -e $f ]] || { echo "image: $f is missing: run make first" >&2; exit 1; }
done

# --- 1. the base ------------------------------------------------------------
# Keep only the libraries Deno and the core link (and the loader); drop the
# rest of the two packages (docs, gconv, nss, audit, ldconfig's config).
keep=(ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libdl.so.2 librt.so.1 libpthread.so.0 libgcc_s.so.1)
base_args=(--variant=extract --architectures="$arch" --include=libc6,libgcc-s1
	--dpkgopt='path-exclude=/*')
for lib in "${keep[@]}"; do base_args+=(--dpkgopt="path-include=/lib/$triple/$lib"); done
base_args+=(--dpkgopt="path-include=/lib64/ld-linux-x86-64.so.2")
# The recipe is these arguments and the suite; its hash names the base.
recipe=$(printf '%s\n' "$suite" "${base_args[@]}")
base=localhost/bpfx-base:$(sha256sum <<<"$recipe" | cut -c1-16)

work=$(mktemp -d /tmp/bpfx-image.XXXXXX)
trap 'rm -rf -- "$work"' EXIT

started=$SECONDS
if podman image exists "$base"; then
	echo "image: base $base is there (recipe unchanged)"
else
	echo "image: making the base $base with mmdebstrap"
	mmdebstrap --quiet "${base_args[@]}" "$suite" "$work/base.tar"
	# Deno and the core need ld.so, libc and libgcc_s: check the base has
	# each before it is kept.
	listing=$(tar -tf "$work/base.tar")
	for lib in "${keep[@]}"; do
		grep -qx -- "./lib/$triple/$lib" <<<"$listing" ||
			{ echo "image: the base lacks /lib/$triple/$lib: the recipe's filters are wrong" >&2; exit 1; }
	done
	podman import --quiet \
		--message "bpfx base: $suite libc6 and libgcc-s1 libraries (mmdebstrap)" \
		"$work/base.tar" "$base" >/dev/null
	echo "image: base made in $((SECONDS - started)) s"
fi

# --- 2. the copy --------------------------------------------------------------
stage=$work/stage
scripts/install.sh install "$stage" /usr "$version" >/dev/null
rm -rf -- "$stage/usr/lib/systemd" "$stage/usr/share/doc"
rm -f -- "$stage/usr/lib/bpfx/$version/.made-dirs"
install -d "$stage/usr/share/bpfx/examples"
install -m 0644 build/examples/*.bpf.o "$stage/usr/share/bpfx/examples/"
# What Deno never reads at run time in the npm packages (--no-check: no
# types; source maps; docs; yaml's browser build, ajv's TypeScript sources):
# 1.5 MB. Licences stay. tests/k8s_test.ts runs `bpfx apply`, which reads both.
modules=$stage/usr/lib/bpfx/$version/node_modules
find "$modules" -path "$modules/deno" -prune -o -type f \
	\( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.md' \) -print0 |
	xargs -0 rm -f --
rm -rf -- "$modules/yaml/browser" "$modules/ajv/lib"
# A read-only root: the watcher's state (/run/bpfx), the mirror and /tmp are
# volumes; the directories are made here so that each has a mount point.
install -d -m 0755 "$stage/run" "$stage/tmp" "$stage/etc/bpfx" "$stage/sys" "$stage/proc" "$stage/dev"

# --- 3. the image -------------------------------------------------------------
# The entrypoint is what the launcher execs for the image's command: the
# launcher is run once here, beside a stand-in for Deno that prints the
# arguments it is given, and its directory is then replaced by the installed
# copy's. So the image has the launcher's Deno flags and permissions (those
# it gives `watch`), whatever logic the launcher has for them.
lib=/usr/lib/bpfx/$version
cmd=(watch --json --config /etc/bpfx/bpfx.yaml --serve "0.0.0.0:$port")
probe=$work/launcher
install -d "$probe/node_modules/.bin"
cp bpfx "$probe/bpfx"
printf '#!/bin/sh\nfor a in "$@"; do printf "%%s\\n" "$a"; done\n' >"$probe/node_modules/.bin/deno"
chmod +x "$probe/bpfx" "$probe/node_modules/.bin/deno"
mapfile -t argv < <("$probe/bpfx" "${cmd[@]}")
n=${#argv[@]} k=${#cmd[@]}
[[ $n -gt $((k + 2)) && ${argv[0]} == run && ${argv[n - k - 1]} == "$probe/cli.ts" &&
	"${argv[*]:n-k}" == "${cmd[*]}" ]] ||
	{ echo "image: the launcher did not run \"deno run ... $probe/cli.ts ${cmd[*]}\" but: ${argv[*]}" >&2; exit 1; }
entrypoint=("$lib/node_modules/deno/deno")
for a in "${argv[@]:0:n-k}"; do entrypoint+=("${a//$probe/$lib}"); done
[[ " ${entrypoint[*]} " == *" --config=$lib/deno.json "* ]] ||
	{ echo "image: the launcher's deno flags lack --config=DIR/deno.json: has bpfx's exec line changed?" >&2; exit 1; }

json() { # a JSON array of the arguments (none holds a quote or a backslash)
	local out="" a
	for a in "$@"; do out+="${out:+, }\"$a\""; done
	printf '[%s]' "$out"
}

# The Containerfile, written here: its entrypoint and CMD are made above.
cat >"$work/Containerfile" <<EOF
FROM $base
COPY stage/ /
ENV DENO_NO_UPDATE_CHECK=1 DENO_DIR=/tmp/deno
ENTRYPOINT $(json "${entrypoint[@]}")
CMD $(json "${cmd[@]}")
EOF

# What the image is made of: every file, link and mode of the copy, and the
# Containerfile. An image of the same content is not built again (so its
# revision and created labels are those of the build that made it).
content=$( (cd "$work" && find stage -printf '%p %y %m %l\n' | LC_ALL=C sort &&
	find stage -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum && cat Containerfile) |
	sha256sum | cut -c1-32)
old=$(podman image inspect --format '{{.Id}} {{index .Labels "org.bpfx.content"}}' "$name:$version" 2>/dev/null || true)
if [[ ${old#* } == "$content" ]]; then
	size=$(podman image inspect --format '{{.Size}}' "$name:$version")
	echo "image: $name:$version is there (content unchanged), $((size / 1024 / 1024)) MiB ($size bytes)"
	exit 0
fi

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain 2>/dev/null) ]]; then revision+=-dirty; fi
labels=(
	"org.opencontainers.image.title=bpfx"
	"org.opencontainers.image.description=bpfx watch: a host's BPF pins, views and exposures kept true from a desired-state file"
	"org.opencontainers.image.version=$version"
	"org.opencontainers.image.licenses=MIT OR Apache-2.0"
	"org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	"org.opencontainers.image.revision=$revision"
	"org.opencontainers.image.base.name=$base"
	"org.bpfx.content=$content"
)
# The source's address: BPFX_IMAGE_SOURCE, else the checkout's origin; the
# label is left out when neither is known, rather than guessed.
source=${BPFX_IMAGE_SOURCE:-$(git config --get remote.origin.url 2>/dev/null || true)}
if [[ -n $source ]]; then labels+=("org.opencontainers.image.source=$source"); fi
label_args=()
for l in "${labels[@]}"; do label_args+=(--label "$l"); done

started=$SECONDS
podman build --quiet --pull=never --network=none --format oci \
	--file "$work/Containerfile" "${label_args[@]}" --tag "$name:$version" "$work" >/dev/null
# The image this one replaced, now untagged, goes (only it: never a prune).
old_id=${old%% *}
if [[ -n $old_id && $old_id != "$(podman image inspect --format '{{.Id}}' "$name:$version")" ]]; then
	podman rmi "$old_id" >/dev/null 2>&1 || true
fi
size=$(podman image inspect --format '{{.Size}}' "$name:$version")
echo "image: $name:$version built in $((SECONDS - started)) s, $((size / 1024 / 1024)) MiB ($size bytes)"
