// SPDX-License-Identifier: GPL-2.0
// unsupported: a fixture for tests/sections_test.ts. A `ksyscall`
// program (libbpf loads it; aya 0.14 has no such section type) beside a
// task view bpfx can load.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("ksyscall/getpid")
int count_getpid(void *ctx)
{
	return 0;
}

SEC("iter/task")
int count_tasks_plain(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (task)
		BPF_SEQ_PRINTF(ctx->meta->seq, "%d\n", task->pid);
	return 0;
}
