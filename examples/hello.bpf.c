// SPDX-License-Identifier: GPL-2.0
//
// hello.bpf.c: the small BPF object bpfx's demo and tests load.
//
// Programs, in this order (`bpftool iter pin` takes an object's first program):
//   dump_task     iter/task: one line per task, "tid comm"
//   count_exec    tracepoint/syscalls/sys_enter_execve: counts execs per
//                 tgid in `exec_counts` and in total in `hello_total`
//   count_unlink  kprobe/do_unlinkat: counts unlinks in `unlink_total`
//
// Maps:
//   exec_counts   hash, u32 tgid -> u64 execs
//   hello_total   array[1] of u64, pinned by name (LIBBPF_PIN_BY_NAME)
//   unlink_total  array[1] of u64
//
// Built with CO-RE against build/vmlinux.h (see the Makefile).

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} exec_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hello_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} unlink_total SEC(".maps");

static __always_inline void bump(void *array)
{
	u32 zero = 0;
	u64 *total = bpf_map_lookup_elem(array, &zero);

	if (total)
		__sync_fetch_and_add(total, 1);
}

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;

	BPF_SEQ_PRINTF(seq, "%d %s\n", task->pid, task->comm);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int count_exec(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	u32 tgid = BPF_CORE_READ(task, tgid);
	u64 one = 1, *count;

	count = bpf_map_lookup_elem(&exec_counts, &tgid);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&exec_counts, &tgid, &one, BPF_NOEXIST);

	bump(&hello_total);
	return 0;
}

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(count_unlink, int dfd, struct filename *name)
{
	bump(&unlink_total);
	return 0;
}
