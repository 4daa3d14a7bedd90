// SPDX-License-Identifier: GPL-2.0
// A witness for the test gate: the smallest map-element iterator, loaded with
// bpftool when doctor finds the kernel refusing "iterator bpf_map_elem".
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("iter/bpf_map_elem")
int witness(struct bpf_iter__bpf_map_elem *ctx)
{
	return 0;
}
