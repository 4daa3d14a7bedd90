# bpfx build. `make` builds the core, dist/ and the examples; `make help` lists targets.

SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

PREFIX ?= /usr/local
CARGO ?= cargo
CLANG ?= clang
BPFTOOL ?= bpftool
DENO ?= node_modules/.bin/deno
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

# The ABI version the core exports (docs/ABI.md).
ABI := 1
# The host target triple, e.g. x86_64-unknown-linux-gnu.
TRIPLE := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
# The core's version, from [package] in core-rs/Cargo.toml.
VERSION := $(shell sed -n '/^\[package\]/,/^\[/s/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' core-rs/Cargo.toml 2>/dev/null | head -n1)
# Debian's multiarch include directory (asm/ headers); lazy, gcc may come with deps.
MULTIARCH = $(shell gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)

CORE_SO := target/release/libbpfx_core.so
CORE_SRCS := $(shell find core-rs vendor -type f -not -path '*/target/*' 2>/dev/null) Cargo.toml $(wildcard Cargo.lock)
DIST_SO := dist/libbpfx_core-$(TRIPLE).so
MANIFEST := dist/manifest.json

BPF_CFLAGS := -g -O2 -Wall -target bpf -D__TARGET_ARCH_x86
BPF_INCLUDES = -I build -I /usr/include/$(MULTIARCH)
EXAMPLE_SRCS := $(wildcard examples/*.bpf.c)
EXAMPLE_OBJS := $(patsubst examples/%.bpf.c,build/examples/%.bpf.o,$(EXAMPLE_SRCS))
# Programs of the tests (tests/bpf/): the test gate's witnesses (one
# minimal program per feature a kernel may refuse) and the tests' fixtures,
# built with the examples.
TEST_BPF_SRCS := $(wildcard tests/bpf/*.bpf.c)
TEST_BPF_OBJS := $(patsubst tests/bpf/%.bpf.c,build/tests/%.bpf.o,$(TEST_BPF_SRCS))
# bpftool 7.1 pins every program of an object, loaded or not, so it cannot
# pin one with a `?` section: the tests compare with this build without it.
TEST_BPF_OBJS += build/tests/sections-noopt.bpf.o build/tests/replace-v2.bpf.o
# bpftool 7.1 (libbpf 1.1) knows neither tcx/ nor netkit/ sections: the tests
# compare with it on this build of tc_sections.bpf.c without them.
TEST_BPF_OBJS += build/tests/tc_sections-old.bpf.o

.PHONY: all deps core dist examples witnesses loadcheck install uninstall check test demo bench clean help

all: core dist examples

help:
	@echo 'make [all]      deps, the core (release), dist/ (library + manifest.json), the examples'
	@echo 'make examples   build/examples/*.bpf.o and build/tests/*.bpf.o (and build/vmlinux.h)'
	@echo 'make loadcheck  load the examples with bpftool into a private bpffs (needs root)'
	@echo 'make check      deno fmt/lint/check, the order of the core parts, cargo fmt/clippy'
	@echo 'make witnesses  build/tests/: the test gate witnesses, the test fixtures (also built by examples), the link tests programs and uprobe target, the UDP sender'
	@echo 'make test       all and the witnesses, then scripts/test.sh (cargo test + deno test)'
	@echo 'make demo       all, then scripts/demo.sh (needs root)'
	@echo 'make bench      bench/run.sh'
	@echo 'make install    copy bpfx to $$(PREFIX)/lib/bpfx/<version>, link $$(PREFIX)/bin/bpfx, install the unit (PREFIX=$(PREFIX))'
	@echo 'make uninstall  remove what make install put there'
	@echo 'make clean      remove build/, dist/ and cargo target/'

# Installs what is missing (Debian packages, node_modules); quiet and fast when
# nothing is. Order-only below, so it never makes anything out of date.
deps:
	@scripts/deps.sh

# --- the core -------------------------------------------------------------
core: $(CORE_SO)

# Cargo tracks the sources itself; touch so make sees the .so as new even
# when cargo had nothing to relink.
$(CORE_SO): $(CORE_SRCS) | deps
	$(CARGO) build --release -p bpfx-core
	@touch $@

dist: $(DIST_SO) $(MANIFEST)

$(DIST_SO): $(CORE_SO)
	@test -n "$(TRIPLE)" || { echo 'make: cannot tell the host triple: is rustc on PATH?' >&2; exit 1; }
	@mkdir -p $(@D)
	cp -f $< $@.tmp && mv -f $@.tmp $@

$(MANIFEST): $(DIST_SO) core-rs/Cargo.toml
	@test -n "$(VERSION)" || { echo 'make: no version in [package] of core-rs/Cargo.toml' >&2; exit 1; }
	@set -e; sum=$$(sha256sum $(DIST_SO) | cut -d' ' -f1); \
	printf '{"name":"bpfx","version":"%s","abi":%s,"libraries":{"%s":{"file":"%s","sha256":"%s"}}}\n' \
		'$(VERSION)' '$(ABI)' '$(TRIPLE)' '$(notdir $(DIST_SO))' "$$sum" > $@.tmp; \
	mv -f $@.tmp $@; echo "wrote $@ ($(VERSION), $(TRIPLE), sha256 $$sum)"

# --- BPF examples ---------------------------------------------------------
examples: $(EXAMPLE_OBJS) $(TEST_BPF_OBJS)

# Generated from the running kernel's BTF; never committed.
build/vmlinux.h: | deps
	@mkdir -p $(@D)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv -f $@.tmp $@

build/examples/%.bpf.o: examples/%.bpf.c build/vmlinux.h | deps
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) $(BPF_INCLUDES) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

build/tests/%.bpf.o: tests/bpf/%.bpf.c build/vmlinux.h | deps
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) $(BPF_INCLUDES) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

witnesses: $(TEST_BPF_OBJS) build/tests/link_target build/tests/udp_send

# The link tests' helper binary (tests/link_target.c): not stripped, so its
# function has a symbol.
build/tests/link_target: tests/link_target.c
	@mkdir -p $(@D)
	gcc -O1 -g -Wall -o $@ $<

# The cgroup link tests' UDP sender (tests/udp_send.c).
build/tests/udp_send: tests/udp_send.c
	@mkdir -p $(@D)
	gcc -O1 -g -Wall -o $@ $<

build/tests/sections-noopt.bpf.o: tests/bpf/sections.bpf.c build/vmlinux.h | deps
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -DSECTIONS_NO_OPTIONAL $(BPF_INCLUDES) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

build/tests/tc_sections-old.bpf.o: tests/bpf/tc_sections.bpf.c build/vmlinux.h | deps
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -DTC_SECTIONS_LIBBPF_1_1 $(BPF_INCLUDES) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

# The replace tests' second variant of tests/bpf/replace.bpf.c: its programs'
# tags differ from the first's.
build/tests/replace-v2.bpf.o: tests/bpf/replace.bpf.c build/vmlinux.h | deps
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -DVARIANT=2 $(BPF_INCLUDES) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

-include $(EXAMPLE_OBJS:.o=.d) $(TEST_BPF_OBJS:.o=.d)

# Loads each example with bpftool/libbpf (not bpfx) into a private bpffs.
loadcheck: $(EXAMPLE_OBJS)
	scripts/loadcheck.sh $^

# --- install --------------------------------------------------------------
# A copy under $(PREFIX)/lib/bpfx/$(VERSION), not a link into the checkout
# (scripts/install.sh says what goes where); DESTDIR for staging.
install: all
	scripts/install.sh install "$(DESTDIR)" "$(PREFIX)" "$(VERSION)"

uninstall:
	scripts/install.sh uninstall "$(DESTDIR)" "$(PREFIX)" "$(VERSION)"

# --- gates ----------------------------------------------------------------
check: | deps
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check mod.ts cli.ts $(wildcard tests)
	$(DENO) doc --lint mod.ts
	$(DENO) run --check --allow-read=. scripts/ts_imports_check.ts
	$(DENO) run --check --allow-read=. scripts/core_parts_check.ts
	DENO=$(DENO) scripts/publish_check.sh
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test: all witnesses build/tests/swap build/tests/unit_sandbox
	scripts/test.sh

# The systemd unit's seccomp filters, for tests/unit_test.ts (libseccomp-dev).
build/tests/unit_sandbox: tests/helpers/unit_sandbox.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Werror -o $@ $< -lseccomp

# The rename-exchange loop tests/harden_test.ts runs as an unprivileged user.
build/tests/swap: tests/helpers/swap.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Werror -o $@ $<

demo: all
	scripts/demo.sh

bench: all witnesses build/bench/readview build/bench/maps_c build/bench/links_c build/bench/attach_c build/bench/cgroup_links_c build/bench/metrics_c
	bash bench/run.sh

build/bench/attach_c: bench/attach_c.c
	@mkdir -p $(@D)
	gcc -O2 -Wall -o $@ $< -lbpf

build/bench/cgroup_links_c: bench/cgroup_links_c.c
	@mkdir -p $(@D)
	gcc -O2 -Wall -o $@ $< -lbpf

build/bench/maps_c: bench/maps_c.c
	@mkdir -p $(@D)
	gcc -O2 -Wall -o $@ $< -lbpf

build/bench/links_c: bench/links_c.c
	@mkdir -p $(@D)
	gcc -O2 -Wall -o $@ $< -lbpf

build/bench/readview: bench/readview.c
	@mkdir -p $(@D)
	gcc -O2 -Wall -o $@ $<

build/bench/metrics_c: bench/metrics_c.c
	@mkdir -p $(@D)
	gcc -O2 -Wall -o $@ $<

clean:
	rm -rf build dist
	$(CARGO) clean
