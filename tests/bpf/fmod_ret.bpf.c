// SPDX-License-Identifier: GPL-2.0
// A witness for the test gate: the smallest fmod_ret program, loaded with
// bpftool when doctor finds the kernel refusing "trampoline fmod_ret".
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("fmod_ret/bpf_modify_return_test")
int BPF_PROG(witness, int a, int *b, int ret)
{
	return 0;
}
