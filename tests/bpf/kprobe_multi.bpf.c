// SPDX-License-Identifier: GPL-2.0
// A kprobe_multi program for the link tests, loaded by bpftool (libbpf
// knows the section; aya 0.14 does not). It counts calls in `hits`.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} hits SEC(".maps");

SEC("kprobe.multi/do_unlinkat")
int kmulti(void *ctx)
{
	u32 key = 0;
	u64 *v = bpf_map_lookup_elem(&hits, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}
