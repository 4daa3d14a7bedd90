// SPDX-License-Identifier: GPL-2.0
// tasks: a task iterator view. Each read prints one line per task:
//   tid tgid state comm
// Pin it with `bpftool iter pin build/examples/tasks.bpf.o PATH` (or a bpfx
// view), then `cat PATH`.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("iter/task")
int tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	if (ctx->meta->seq_num == 0)
		BPF_SEQ_PRINTF(seq, "%8s %8s %6s %s\n", "tid", "tgid", "state", "comm");
	BPF_SEQ_PRINTF(seq, "%8d %8d %6u %s\n", task->pid, task->tgid,
		       BPF_CORE_READ(task, __state), task->comm);
	return 0;
}
