// The C peer of bench/maps.ts, on libbpf (Debian's libbpf-dev): the same
// operations on the same pinned map, so both are measured in one run.
//
//   maps_c PIN get N     N lookups of keys 0..N-1 (u32 keys), ns per op
//   maps_c PIN set N     N updates of keys 0..N-1 (u32 key, u64 value), ns per op
//   maps_c PIN dump      batch lookup of every entry, entries and entries/s
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: maps_c PIN get|set N | maps_c PIN dump\n");
		return 2;
	}
	int fd = bpf_obj_get(argv[1]);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		perror("bpf_obj_get_info_by_fd");
		return 1;
	}
	if (!strcmp(argv[2], "get") || !strcmp(argv[2], "set")) {
		long n = argc > 3 ? atol(argv[3]) : 1000000;
		int set = argv[2][0] == 's';
		unsigned long long value = 0;
		double t0 = now();
		for (long i = 0; i < n; i++) {
			__u32 key = (__u32)(i % info.max_entries);
			int r = set ? bpf_map_update_elem(fd, &key, &value, BPF_ANY) : bpf_map_lookup_elem(fd, &key, &value);
			if (r && errno != ENOENT) {
				perror(set ? "update" : "lookup");
				return 1;
			}
		}
		printf("%.1f\n", (now() - t0) * 1e9 / n);
		return 0;
	}
	if (!strcmp(argv[2], "dump")) {
		__u32 chunk = 4096, count, batch = 0;
		void *keys = malloc((size_t)chunk * info.key_size);
		void *values = malloc((size_t)chunk * info.value_size);
		long total = 0;
		int first = 1;
		double t0 = now();
		for (;;) {
			count = chunk;
			int r = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, values, &count, NULL);
			first = 0;
			total += count;
			if (r) {
				if (errno == ENOENT)
					break;
				perror("bpf_map_lookup_batch");
				return 1;
			}
		}
		double s = now() - t0;
		printf("%ld %.0f\n", total, total / s);
		return 0;
	}
	fprintf(stderr, "maps_c: unknown operation \"%s\"\n", argv[2]);
	return 2;
}
