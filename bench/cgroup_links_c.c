// The C floor of `bpfx attach` with a cgroup program, on libbpf: for every
// cgroup DEPTH levels below CGROUP_ROOT (walked by readdir's d_type, each
// pin directory made once on the way down), one link of the object's
// program (bpf_link_create on the cgroup's fd, with the attach type its
// section gives), pinned at PIN_ROOT/<relative path>/NAME, as bpfx attach
// does (without its checks, its report or its handles). Prints the links made
// and the milliseconds it took, load included.
//
//   cgroup_links_c OBJ PROG CGROUP_ROOT DEPTH PIN_ROOT NAME
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int prog_fd, depth;
static enum bpf_attach_type attach_type;
static const char *pin_root, *name;
static long made;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Walks the cgroup directory CG (LEVEL below the root) by readdir's d_type,
 * with its pin directory PIN made: links the cgroups DEPTH levels down. */
static int walk(const char *cg, const char *pin, int level)
{
	if (level == depth) {
		char file[4096];
		snprintf(file, sizeof(file), "%s/%s", pin, name);
		int fd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return 0; // removed meanwhile
		int link = bpf_link_create(prog_fd, fd, attach_type, NULL);
		close(fd);
		if (link < 0) {
			fprintf(stderr, "attach %s: %s\n", cg, strerror(errno));
			return 1;
		}
		if (bpf_obj_pin(link, file)) {
			fprintf(stderr, "pin %s: %s\n", file, strerror(errno));
			return 1;
		}
		close(link);
		made++;
		return 0;
	}
	DIR *d = opendir(cg);
	if (!d)
		return 0;
	struct dirent *e;
	int rc = 0;
	while (!rc && (e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		char sub[4096], subpin[4096];
		snprintf(sub, sizeof(sub), "%s/%s", cg, e->d_name);
		snprintf(subpin, sizeof(subpin), "%s/%s", pin, e->d_name);
		if (mkdir(subpin, 0755) && errno != EEXIST) {
			fprintf(stderr, "mkdir %s: %s\n", subpin, strerror(errno));
			rc = 1;
			break;
		}
		rc = walk(sub, subpin, level + 1);
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: cgroup_links_c OBJ PROG CGROUP_ROOT DEPTH PIN_ROOT NAME\n");
		return 2;
	}
	depth = atoi(argv[4]);
	pin_root = argv[5];
	name = argv[6];
	double t0 = now();
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, argv[2]);
	if (!prog) {
		fprintf(stderr, "no program %s\n", argv[2]);
		return 1;
	}
	// Only this program, as bpfx loads OBJ:NAME.
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, p == prog);
	if (bpf_object__load(obj)) {
		fprintf(stderr, "load %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	prog_fd = bpf_program__fd(prog);
	attach_type = bpf_program__expected_attach_type(prog);
	if ((mkdir(pin_root, 0755) && errno != EEXIST) || walk(argv[3], pin_root, 0))
		return 1;
	printf("%ld %.0f\n", made, (now() - t0) * 1000);
	bpf_object__close(obj);
	return 0;
}
