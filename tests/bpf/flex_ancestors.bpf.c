// SPDX-License-Identifier: GPL-2.0
// flex_ancestors: a cgroup iterator that reads through a flexible array
// member, `struct cgroup`'s `ancestors[]`, with CO-RE. Each read prints its
// first cgroup's line only:
//   id=<its id> level=<its level> root=<ancestors[0]'s id> top=<ancestors[1]'s id, or 0>
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

SEC("iter/cgroup")
int flex_ancestors(struct bpf_iter__cgroup *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct cgroup *cgrp = ctx->cgroup;
	u64 top = 0;
	int level;

	if (!cgrp || ctx->meta->seq_num != 0)
		return 0;
	level = BPF_CORE_READ(cgrp, level);
	if (level >= 1)
		top = BPF_CORE_READ(cgrp, ancestors[1], kn, id);
	BPF_SEQ_PRINTF(seq, "id=%llu level=%d root=%llu top=%llu\n",
		       BPF_CORE_READ(cgrp, kn, id), level,
		       BPF_CORE_READ(cgrp, ancestors[0], kn, id), top);
	return 0;
}
