// SPDX-License-Identifier: GPL-2.0
// The programs of the link tests (tests/links_test.ts): each counts what it
// sees, so a test can tell that its link is attached, and that unpinning
// the link detached it.
//
//   tcx_count     classifier/ingress: packets, in net_hits[0]
//   xdp_count     xdp: packets, in net_hits[1]
//   kprobe_count  kprobe/do_unlinkat: unlinks per tgid, in kprobe_hits
//   uprobe_count  uprobe: calls per tgid, in uprobe_hits
//   tp_count      tracepoint/syscalls/sys_enter_getppid: per tgid, in tp_hits
//   raw_tp_count  raw_tp/sys_enter: syscalls per tgid, in raw_tp_hits
//   perf_count    perf_event: samples, in perf_hits[0]
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} net_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} perf_hits SEC(".maps");

#define PER_TGID(name)                          \
	struct {                                \
		__uint(type, BPF_MAP_TYPE_HASH);    \
		__uint(max_entries, 1024);          \
		__type(key, u32);                   \
		__type(value, u64);                 \
	} name SEC(".maps")

PER_TGID(kprobe_hits);
PER_TGID(uprobe_hits);
PER_TGID(tp_hits);
PER_TGID(raw_tp_hits);

static __always_inline void bump(void *map, u32 key)
{
	u64 one = 1, *v = bpf_map_lookup_elem(map, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(map, &key, &one, BPF_NOEXIST);
}

static __always_inline void bump_tgid(void *map)
{
	bump(map, bpf_get_current_pid_tgid() >> 32);
}

SEC("classifier/ingress")
int tcx_count(struct __sk_buff *skb)
{
	bump(&net_hits, 0);
	return 0; /* TCX_PASS */
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	bump(&net_hits, 1);
	return XDP_PASS;
}

SEC("kprobe/do_unlinkat")
int kprobe_count(void *ctx)
{
	bump_tgid(&kprobe_hits);
	return 0;
}

SEC("uprobe")
int uprobe_count(void *ctx)
{
	bump_tgid(&uprobe_hits);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int tp_count(void *ctx)
{
	bump_tgid(&tp_hits);
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_tp_count(void *ctx)
{
	bump_tgid(&raw_tp_hits);
	return 0;
}

SEC("perf_event")
int perf_count(void *ctx)
{
	bump(&perf_hits, 0);
	return 0;
}
