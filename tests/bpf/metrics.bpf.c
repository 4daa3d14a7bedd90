// SPDX-License-Identifier: GPL-2.0
// The maps of the metrics tests (tests/metrics_test.ts), filled by the
// tests from userspace; the one program only makes the object loadable.
//
//   latency   hash {u32 op; u32 bucket} -> u64: an exp2 histogram per op
//             (bucket 32, one past the last, holds the sum)
//   per_cpu   percpu_array u32 -> {u64 packets; u64 bytes}
//   decoded   hash of keys for every label decoder -> u64
//   slots     array u32 -> {u64 counts[8]}: a histogram per key, by value
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct hist_key {
	u32 op;
	u32 bucket;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct hist_key);
	__type(value, u64);
} latency SEC(".maps");

struct traffic {
	u64 packets;
	u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, struct traffic);
} per_cpu SEC(".maps");

struct decoded_key {
	u32 ifindex;
	s32 err;
	u32 nr;
	u8 addr[4];
	u8 addr6[16];
	char comm[16];
	u64 ip;
	u64 cgroup;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 100000);
	__type(key, struct decoded_key);
	__type(value, u64);
} decoded SEC(".maps");

struct slots {
	u64 counts[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, struct slots);
} slots SEC(".maps");

SEC("socket")
int noop(struct __sk_buff *skb)
{
	struct decoded_key k = {};
	return bpf_map_lookup_elem(&per_cpu, &k) && bpf_map_lookup_elem(&latency, &k) &&
	       bpf_map_lookup_elem(&decoded, &k) && bpf_map_lookup_elem(&slots, &k) ? 1 : 0;
}
