// SPDX-License-Identifier: GPL-2.0
// A witness for the test gate: the smallest task iterator, loaded with
// bpftool when doctor finds the kernel refusing "iterator task".
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("iter/task")
int witness(struct bpf_iter__task *ctx)
{
	return 0;
}
