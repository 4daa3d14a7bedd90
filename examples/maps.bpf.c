// SPDX-License-Identifier: GPL-2.0
// maps: one BTF-defined map of each kind bpfx reads and writes, for the
// tests and benchmarks of `bpfx map` and the map API, and a task iterator
// that feeds the ring buffer.
//
//   counts      hash        u32 -> u64, 1,000,000 entries (the benchmarks)
//   flows       hash        struct flow_key -> struct flow_value (a char
//                           array, an enum, bitfields, a nested struct, an
//                           array, a signed field)
//   slots       array       u32 -> u64
//   recent      lru_hash    u32 -> u64
//   pcpu_hash   percpu_hash u32 -> u64
//   pcpu_stats  percpu_array u32 -> struct flow_counters
//   routes      lpm_trie    struct ipv4_lpm_key -> u32
//   jobs        queue       u64
//   undo        stack       u64
//   events      ringbuf     records written by `ringtasks`
//   small       hash        u32 -> u32, 4 entries (to fill up)
//
// `ringtasks` is an iter/task program: each read of a view made of it (for
// one process: `bpfx view OBJ:ringtasks PIN --pid N`) writes one record per
// task to `events`, a `struct task_record`, and prints nothing.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

enum flow_state {
	FLOW_NEW = 0,
	FLOW_ESTABLISHED = 1,
	FLOW_CLOSING = 2,
	FLOW_CLOSED = 3,
};

/* 13 bytes of fields and 3 of padding: the key's padding must be zero. */
struct flow_key {
	u32 saddr;
	u32 daddr;
	u16 sport;
	u16 dport;
	u8 proto;
};

struct flow_counters {
	u64 packets;
	u64 bytes;
};

struct flow_value {
	char comm[16];
	enum flow_state state;
	u32 pid;
	u32 urgent : 1;
	u32 prio : 3;
	u32 mark : 12;
	struct flow_counters stats;
	u16 ports[4];
	s32 delta;
};

struct ipv4_lpm_key {
	u32 prefixlen;
	u8 data[4];
};

struct task_record {
	u32 pid;
	u32 tgid;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1000000);
	__type(key, u32);
	__type(value, u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 128);
	__type(key, u32);
	__type(value, u64);
} recent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} pcpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, struct flow_counters);
} pcpu_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ipv4_lpm_key);
	__type(value, u32);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 16);
	__type(value, u64);
} jobs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 16);
	__type(value, u64);
} undo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u32);
} small SEC(".maps");

SEC("iter/task")
int ringtasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct task_record rec = {};

	if (!task)
		return 0;
	rec.pid = task->pid;
	rec.tgid = task->tgid;
	bpf_probe_read_kernel_str(rec.comm, sizeof(rec.comm), task->comm);
	bpf_ringbuf_output(&events, &rec, sizeof(rec), 0);
	return 0;
}
