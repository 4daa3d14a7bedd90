// SPDX-License-Identifier: GPL-2.0
// cgtasks: a per-cgroup view that counts the cgroup's tasks with the
// open-coded css_task iterator kfuncs, under bpf_rcu_read_lock. Made with
// order "self" (as `bpfx attach` does per cgroup), each read prints:
//
//   id=<cgroup id> threads=<tasks in the cgroup> procs=<thread-group leaders>
//
// threads counts what cgroup.threads lists and procs what cgroup.procs
// lists. The kfuncs are __ksym externs that bpfx resolves against the
// running kernel's BTF at load time.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

extern int bpf_iter_css_task_new(struct bpf_iter_css_task *it,
				 struct cgroup_subsys_state *css, unsigned int flags) __ksym;
extern struct task_struct *bpf_iter_css_task_next(struct bpf_iter_css_task *it) __ksym;
extern void bpf_iter_css_task_destroy(struct bpf_iter_css_task *it) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

static __always_inline int count(struct cgroup_subsys_state *css, unsigned int flags)
{
	struct bpf_iter_css_task it;
	int n = 0;

	bpf_iter_css_task_new(&it, css, flags);
	while (bpf_iter_css_task_next(&it))
		n++;
	bpf_iter_css_task_destroy(&it);
	return n;
}

SEC("iter/cgroup")
int cgtasks(struct bpf_iter__cgroup *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct cgroup *cgrp = ctx->cgroup;
	int threads, procs;

	if (!cgrp)
		return 0;
	bpf_rcu_read_lock();
	threads = count(&cgrp->self, 0);
	procs = count(&cgrp->self, CSS_TASK_ITER_PROCS);
	bpf_rcu_read_unlock();
	BPF_SEQ_PRINTF(seq, "id=%llu threads=%d procs=%d\n", cgrp->kn->id, threads, procs);
	return 0;
}
