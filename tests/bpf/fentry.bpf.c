// SPDX-License-Identifier: GPL-2.0
// A witness for the test gate: the smallest fentry program, loaded with bpftool
// when doctor finds the kernel refusing "trampoline fentry".
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("fentry/bpf_fentry_test1")
int BPF_PROG(witness, int a)
{
	return 0;
}
