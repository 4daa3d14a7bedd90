// Reads every file named in LIST (one path a line) once, whole, with a
// plain read(2) loop, N times: the C peer of a `bpfx serve` scrape of a
// rule's views (bench/metrics.sh). Prints the median time of one pass over
// all the files in milliseconds, the files and the bytes of one pass.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static char buf[64 * 1024];
	if (argc != 3) {
		fprintf(stderr, "usage: metrics_c LIST N\n");
		return 2;
	}
	FILE *list = fopen(argv[1], "r");
	if (!list) {
		perror(argv[1]);
		return 1;
	}
	char **paths = NULL;
	size_t count = 0, cap = 0;
	char line[4096];
	while (fgets(line, sizeof(line), list)) {
		line[strcspn(line, "\n")] = 0;
		if (count == cap) {
			cap = cap ? cap * 2 : 1024;
			paths = realloc(paths, cap * sizeof(*paths));
		}
		paths[count++] = strdup(line);
	}
	fclose(list);
	int n = atoi(argv[2]);
	double *t = calloc(n, sizeof(*t));
	long bytes = 0;
	for (int i = 0; i < n; i++) {
		struct timespec a, b;
		bytes = 0;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (size_t f = 0; f < count; f++) {
			int fd = open(paths[f], O_RDONLY);
			ssize_t r;
			if (fd < 0) {
				perror(paths[f]);
				return 1;
			}
			while ((r = read(fd, buf, sizeof(buf))) > 0)
				bytes += r;
			close(fd);
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		t[i] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
	}
	qsort(t, n, sizeof(*t), cmp);
	printf("%.1f %zu %ld\n", t[n / 2], count, bytes);
	return 0;
}
