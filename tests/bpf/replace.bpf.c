// SPDX-License-Identifier: GPL-2.0
// The object the replace tests change (tests/desired_replace_test.ts):
// built twice, as build/tests/replace.bpf.o (VARIANT 1) and, with
// -DVARIANT=2, as build/tests/replace-v2.bpf.o, whose programs differ in
// one constant, so their tags differ.
//
//   udp_egress  cgroup_skb/egress: adds settings[0] to hits[VARIANT] for each
//               IPv4 UDP packet; lets all pass
//   probed      uprobe: adds 1 to probes[VARIANT] for each call
//   variant     iter/task: prints "variant N" once
//
// hits and probes are pinned by name, so both variants count into the same
// maps; settings is the object's own (the configuration map a desired-state
// file writes).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef VARIANT
#define VARIANT 1
#endif

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} replace_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} replace_probes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} settings SEC(".maps");

SEC("cgroup_skb/egress")
int udp_egress(struct __sk_buff *skb)
{
	u8 proto = 0;
	u32 k = 0, v = VARIANT;
	if (skb->protocol != bpf_htons(0x0800 /* ETH_P_IP */))
		return 1;
	if (bpf_skb_load_bytes(skb, 9, &proto, 1) || proto != 17 /* UDP */)
		return 1;
	u64 *step = bpf_map_lookup_elem(&settings, &k);
	u64 *n = bpf_map_lookup_elem(&replace_hits, &v);
	if (step && n)
		__sync_fetch_and_add(n, *step);
	return 1;
}

SEC("uprobe")
int probed(void *ctx)
{
	u32 v = VARIANT;
	u64 *n = bpf_map_lookup_elem(&replace_probes, &v);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

SEC("iter/task")
int variant(struct bpf_iter__task *ctx)
{
	if (ctx->meta->seq_num == 0 && ctx->task)
		BPF_SEQ_PRINTF(ctx->meta->seq, "variant %d\n", VARIANT);
	return 0;
}
