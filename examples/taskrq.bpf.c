// SPDX-License-Identifier: GPL-2.0
// taskrq: a task view that uses a typed ksym variable (the per-CPU
// `runqueues`) and kfuncs (bpf_task_acquire/bpf_task_release). One line per
// task:
//
//   pid=<tid> tgid=<pid> cpu=<task's CPU> rq_cpu=<cpu of that CPU's runqueue> comm=<comm>
//
// rq_cpu is read through the runqueue that bpf_per_cpu_ptr(&runqueues, cpu)
// gives, so it equals cpu when the extern resolved to the kernel's variable.
// `runqueues` is weak: the verifier finds a variable's address in kallsyms,
// which lists data only with CONFIG_KALLSYMS_ALL; without it the extern is
// 0 and rq_cpu is -1.
// The first line also shows three weak externs: a typeless ksym
// (`bpf_prog_fops`, whose kallsyms address is 0 on a kernel without
// CONFIG_KALLSYMS_ALL), a kfunc no kernel has, which resolves to 0 so the
// verifier drops the call, and whether the kernel has the kfunc
// bpf_task_from_pid (its address, as bpf_ksym_exists() tests it).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

extern const struct rq runqueues __ksym __weak;
extern const void bpf_prog_fops __ksym __weak;
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpf_bpfx_not_a_kfunc(void) __ksym __weak;
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;

SEC("iter/task")
int taskrq(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task, *t;
	const struct rq *rq;
	int cpu, rq_cpu = -1;

	if (!task)
		return 0;
	if (ctx->meta->seq_num == 0) {
		int has_kfunc = 0;

		if (bpf_bpfx_not_a_kfunc) {
			bpf_bpfx_not_a_kfunc();
			has_kfunc = 1;
		}
		BPF_SEQ_PRINTF(seq, "fops=%lx not_a_kfunc=%d from_pid=%d\n",
			       (unsigned long)&bpf_prog_fops, has_kfunc, bpf_task_from_pid ? 1 : 0);
	}
	t = bpf_task_acquire(task);
	if (!t)
		return 0;
	cpu = t->thread_info.cpu;
	if (&runqueues) {
		rq = bpf_per_cpu_ptr(&runqueues, cpu);
		if (rq)
			rq_cpu = rq->cpu;
	}
	BPF_SEQ_PRINTF(seq, "pid=%d tgid=%d cpu=%d rq_cpu=%d comm=%s\n", t->pid, t->tgid, cpu,
		       rq_cpu, t->comm);
	bpf_task_release(t);
	return 0;
}
