// SPDX-License-Identifier: GPL-2.0
// libbpf's multi-probe sections, one program each, counting into one array
// (the index is the program's):
//   um_count   uprobe.multi       [0]  functions given at attach
//   urm_count  uretprobe.multi    [1]
//   km_count   kprobe.multi       [2]  (loads everywhere; a kprobe_multi
//                                      link needs CONFIG_FPROBE)
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, u32);
	__type(value, u64);
} multi_hits SEC(".maps");

static __always_inline int count(u32 i)
{
	u64 *v = bpf_map_lookup_elem(&multi_hits, &i);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

SEC("uprobe.multi")
int um_count(void *ctx) { return count(0); }

SEC("uretprobe.multi")
int urm_count(void *ctx) { return count(1); }

SEC("kprobe.multi")
int km_count(void *ctx) { return count(2); }
