// SPDX-License-Identifier: GPL-2.0
// cgstat: a per-cgroup view. Made with order "self" for one cgroup (as
// `bpfx attach` does for every cgroup of a subtree), each read prints:
//
//   id=<cgroup id, the inode number of its directory>
//   level=<depth below the root cgroup>
//   name=<directory name>
//   tasks=<tasks directly in the cgroup>
//   populated=<1 if it or a descendant has tasks>
//   descendants=<live descendant cgroups>
//   dying=<descendants being removed>
//   cpu_usage_ns=<CPU time of the cgroup's tasks, as cpu.stat's usage_usec, in ns>
//
// The task count sums nr_tasks over the css_sets linked to the cgroup, so
// it matches cgroup.threads; CPU time is the kernel's base rstat, flushed
// whenever someone reads cpu.stat.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define MAX_CSETS 256

static __always_inline int count_tasks(struct cgroup *cgrp)
{
	struct list_head *head = &cgrp->cset_links;
	struct list_head *pos = BPF_CORE_READ(cgrp, cset_links.next);
	int tasks = 0;

	for (int i = 0; i < MAX_CSETS && pos && pos != head; i++) {
		struct cgrp_cset_link *link = container_of(pos, struct cgrp_cset_link, cset_link);

		tasks += BPF_CORE_READ(link, cset, nr_tasks);
		pos = BPF_CORE_READ(pos, next);
	}
	return tasks;
}

SEC("iter/cgroup")
int cgstat(struct bpf_iter__cgroup *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct cgroup *cgrp = ctx->cgroup;
	char name[64] = {};
	int populated;

	if (!cgrp)
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(cgrp, kn, name));
	populated = BPF_CORE_READ(cgrp, nr_populated_csets) +
		    BPF_CORE_READ(cgrp, nr_populated_domain_children) +
		    BPF_CORE_READ(cgrp, nr_populated_threaded_children);
	BPF_SEQ_PRINTF(seq, "id=%llu\n", BPF_CORE_READ(cgrp, kn, id));
	BPF_SEQ_PRINTF(seq, "level=%d\nname=%s\n", BPF_CORE_READ(cgrp, level), name);
	BPF_SEQ_PRINTF(seq, "tasks=%d\npopulated=%d\n", count_tasks(cgrp), populated > 0);
	BPF_SEQ_PRINTF(seq, "descendants=%d\ndying=%d\n", BPF_CORE_READ(cgrp, nr_descendants),
		       BPF_CORE_READ(cgrp, nr_dying_descendants));
	BPF_SEQ_PRINTF(seq, "cpu_usage_ns=%llu\n", BPF_CORE_READ(cgrp, bstat.cputime.sum_exec_runtime));
	return 0;
}
