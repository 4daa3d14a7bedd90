// The C floor of bench/links.ts, on libbpf's low-level API (Debian's
// libbpf-dev): attach a pinned program as a kprobe or uprobe perf event
// link and pin it, N times (perf_event_open, bpf_link_create, bpf_obj_pin,
// then unlink and close), and print the median microseconds of one
// attach+pin.
//
//   links_c PROG_PIN kprobe FUNC LINK_PIN N
//   links_c PROG_PIN uprobe PATH OFFSET LINK_PIN N
#include <bpf/bpf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int pmu_type(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/bus/event_source/devices/%s/type", name);
	FILE *f = fopen(path, "r");
	int type = -1;
	if (f) {
		if (fscanf(f, "%d", &type) != 1)
			type = -1;
		fclose(f);
	}
	return type;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int uprobe = argc == 7 && !strcmp(argv[2], "uprobe");
	if (!(argc == 6 && !strcmp(argv[2], "kprobe")) && !uprobe) {
		fprintf(stderr, "usage: links_c PROG_PIN kprobe FUNC LINK_PIN N | links_c PROG_PIN uprobe PATH OFFSET LINK_PIN N\n");
		return 2;
	}
	const char *pin = argv[uprobe ? 5 : 4];
	int n = atoi(argv[uprobe ? 6 : 5]);
	int prog = bpf_obj_get(argv[1]);
	if (prog < 0) {
		perror(argv[1]);
		return 1;
	}
	int type = pmu_type(uprobe ? "uprobe" : "kprobe");
	if (type < 0) {
		fprintf(stderr, "links_c: no %s PMU\n", argv[2]);
		return 1;
	}
	double *t = calloc(n, sizeof(*t));
	for (int i = 0; i < n; i++) {
		double t0 = now_us();
		struct perf_event_attr attr = { .size = sizeof(attr), .type = type, .sample_period = 1 };
		attr.config1 = (unsigned long)argv[3]; // kprobe_func or uprobe_path
		attr.config2 = uprobe ? strtoull(argv[4], NULL, 0) : 0;
		int pfd = syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
		if (pfd < 0) {
			perror("perf_event_open");
			return 1;
		}
		int link = bpf_link_create(prog, pfd, BPF_PERF_EVENT, NULL);
		if (link < 0 || bpf_obj_pin(link, pin)) {
			perror("bpf_link_create/bpf_obj_pin");
			return 1;
		}
		close(pfd);
		close(link);
		t[i] = now_us() - t0;
		unlink(pin);
	}
	qsort(t, n, sizeof(*t), cmp);
	printf("%.1f\n", t[n / 2]);
	return 0;
}
