// SPDX-License-Identifier: GPL-2.0
// mapelems: a view of a map's entries. Made with a map parameter (a u32 ->
// u64 map, such as a hash map made by `bpftool map create ... key 4 value 8`),
// each read prints one line per entry:
//   <key> <value>
// both in decimal, in the map's iteration order.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("iter/bpf_map_elem")
int mapelems(struct bpf_iter__bpf_map_elem *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	u32 *key = ctx->key;
	u64 *value = ctx->value;

	if (!key || !value)
		return 0;
	BPF_SEQ_PRINTF(seq, "%u %llu\n", *key, *value);
	return 0;
}
