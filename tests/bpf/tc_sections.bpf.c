// SPDX-License-Identifier: GPL-2.0
// libbpf's section names for sched_cls programs, one program each, all
// counting into one array (the index is the program's), so a test can tell
// which one a packet met:
//   tc_any      tc              [0]  no direction: given at attach
//   tcx_in      tcx/ingress     [1]
//   tcx_out     tcx/egress      [2]
//   tc_in_old   tc/ingress      [3]  libbpf's deprecated spelling of tcx/ingress
//   nk_primary  netkit/primary  [4]
//   nk_peer     netkit/peer     [5]
// Built a second time with -DTC_SECTIONS_LIBBPF_1_1 (tc_sections-old.bpf.o):
// only the names that Debian's bpftool 7.1 (libbpf 1.1) knows, `tc` and
// `classifier` (nk_primary, in [4]), for the tests' comparison with it.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 6);
	__type(key, u32);
	__type(value, u64);
} tc_hits SEC(".maps");

static __always_inline int count(u32 i)
{
	u64 *v = bpf_map_lookup_elem(&tc_hits, &i);

	if (v)
		__sync_fetch_and_add(v, 1);
	return -1; /* TCX_NEXT, TC_ACT_UNSPEC: on to the next program */
}

SEC("tc")
int tc_any(struct __sk_buff *skb) { return count(0); }

#ifdef TC_SECTIONS_LIBBPF_1_1
SEC("classifier")
int nk_primary(struct __sk_buff *skb) { return count(4); }
#else
SEC("tcx/ingress")
int tcx_in(struct __sk_buff *skb) { return count(1); }

SEC("tcx/egress")
int tcx_out(struct __sk_buff *skb) { return count(2); }

SEC("tc/ingress")
int tc_in_old(struct __sk_buff *skb) { return count(3); }

SEC("netkit/primary")
int nk_primary(struct __sk_buff *skb) { return count(4); }

SEC("netkit/peer")
int nk_peer(struct __sk_buff *skb) { return count(5); }
#endif
