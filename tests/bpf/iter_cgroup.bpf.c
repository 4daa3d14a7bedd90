// SPDX-License-Identifier: GPL-2.0
// A witness for the test gate: the smallest cgroup iterator, loaded with
// bpftool when doctor finds the kernel refusing "iterator cgroup".
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("iter/cgroup")
int witness(struct bpf_iter__cgroup *ctx)
{
	return 0;
}
