// SPDX-License-Identifier: GPL-2.0
// A witness for the test gate: the smallest LSM program, loaded with bpftool
// when doctor finds the kernel refusing "trampoline lsm".
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("lsm/file_open")
int BPF_PROG(witness, struct file *file)
{
	return 0;
}
