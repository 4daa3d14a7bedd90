// SPDX-License-Identifier: GPL-2.0
// Two __kconfig char arrays of 4 GiB each (issue 25, item 10): bpfx must
// refuse them by their size before it allocates anything of that size.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern char CONFIG_BPFX_HUGE_A[4294967295] __kconfig __weak;
extern char CONFIG_BPFX_HUGE_B[4294967295] __kconfig __weak;

SEC("iter/task")
int huge(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;

	if (!ctx->task || ctx->meta->seq_num != 0)
		return 0;
	BPF_SEQ_PRINTF(seq, "%d %d\n", CONFIG_BPFX_HUGE_A[0], CONFIG_BPFX_HUGE_B[0]);
	return 0;
}
