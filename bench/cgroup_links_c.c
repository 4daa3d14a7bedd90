// The C floor of `bpfx attach` with a cgroup program, on libbpf: for every
// cgroup DEPTH levels below CGROUP_ROOT, one link of the object's program
// (bpf_link_create on the cgroup's fd, with the attach type its section
// gives), pinned at PIN_ROOT/<relative path>/NAME, as bpfx attach does
// (without its checks, its report or its handles). Prints the links made
// and the milliseconds it took, load included.
//
//   cgroup_links_c OBJ PROG CGROUP_ROOT DEPTH PIN_ROOT NAME
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int prog_fd, depth;
static enum bpf_attach_type attach_type;
static const char *pin_root, *name;
static size_t cg_len;
static long made;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

static int one(const char *dir, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	if (type != FTW_D || f->level != depth)
		return 0;
	char pin[4096];
	snprintf(pin, sizeof(pin), "%s%s/%s", pin_root, dir + cg_len, name);
	int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return 0; // removed meanwhile
	int link = bpf_link_create(prog_fd, cg, attach_type, NULL);
	close(cg);
	if (link < 0) {
		fprintf(stderr, "attach %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (mkdirs(pin) || bpf_obj_pin(link, pin)) {
		fprintf(stderr, "pin %s: %s\n", pin, strerror(errno));
		return 1;
	}
	close(link);
	made++;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: cgroup_links_c OBJ PROG CGROUP_ROOT DEPTH PIN_ROOT NAME\n");
		return 2;
	}
	cg_len = strlen(argv[3]);
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
	if (nftw(argv[3], one, 64, FTW_PHYS) != 0)
		return 1;
	printf("%ld %.0f\n", made, (now() - t0) * 1000);
	bpf_object__close(obj);
	return 0;
}
