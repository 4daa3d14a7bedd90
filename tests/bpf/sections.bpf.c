// SPDX-License-Identifier: GPL-2.0
// sections: a fixture for tests/sections_test.ts. One object with what
// libbpf loads and aya 0.14 alone cannot read: a `?iter/task` section
// (loaded only when asked for), a normal `iter/task` view, and a
// `syscall` program that calls a static and a global .text function,
// writes to a map and a global, and returns a value computed from its
// context. Built again with -DSECTIONS_NO_OPTIONAL, without the `?`
// section, for bpftool to compare with.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} syscall_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tasks_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} optional_seen SEC(".maps");

/* How many times the syscall program ran (.bss). */
__u64 syscall_runs;

struct run_args {
	__u64 a;
	__u64 b;
	__u64 sum;
};

static __noinline __u64 combine(__u64 a, __u64 b)
{
	return a * 1000 + b;
}

__noinline int twice(int x)
{
	return x * 2;
}

SEC("syscall")
int write_ctx_to_map(struct run_args *ctx)
{
	__u32 key = 0;
	__u64 v = combine(ctx->a, ctx->b);

	bpf_map_update_elem(&syscall_out, &key, &v, BPF_ANY);
	ctx->sum = ctx->a + ctx->b;
	__sync_fetch_and_add(&syscall_runs, 1);
	return twice((int)ctx->a);
}

static void count(void *map)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(map, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("iter/task")
int list_task_tgids_in_full(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	count(&tasks_seen);
	if (task->pid == task->tgid)
		BPF_SEQ_PRINTF(ctx->meta->seq, "%d\n", task->tgid);
	return 0;
}

#ifndef SECTIONS_NO_OPTIONAL
SEC("?iter/task")
int list_task_comms_optional(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	count(&optional_seen);
	if (task->pid == task->tgid)
		BPF_SEQ_PRINTF(ctx->meta->seq, "%d %s\n", task->tgid, task->comm);
	return 0;
}
#endif
