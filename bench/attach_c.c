// The C floor of `bpfx attach`, on libbpf: for every cgroup of a subtree,
// one self-order cgroup iterator link of the object's program, pinned at
// PIN_ROOT/<relative path>/NAME and symlinked at EXPOSE_ROOT/<relative
// path>/NAME, as bpfx attach does (without its checks, its report or its
// handles). Prints the views made and the milliseconds it took, load
// included.
//
//   attach_c OBJ PROG CGROUP_ROOT PIN_ROOT EXPOSE_ROOT NAME
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

static struct bpf_program *prog;
static const char *cg_root, *pin_root, *expose_root, *name;
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
	(void)f;
	if (type != FTW_D)
		return 0;
	const char *rel = dir + cg_len;
	char pin[4096], exp[4096];
	snprintf(pin, sizeof(pin), "%s%s/%s", pin_root, rel, name);
	snprintf(exp, sizeof(exp), "%s%s/%s", expose_root, rel, name);
	int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return 0; // removed meanwhile
	union bpf_iter_link_info info = {};
	info.cgroup.order = BPF_CGROUP_ITER_SELF_ONLY;
	info.cgroup.cgroup_fd = cg;
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info,
		    .link_info_len = sizeof(info));
	struct bpf_link *link = bpf_program__attach_iter(prog, &opts);
	close(cg);
	if (!link) {
		fprintf(stderr, "attach %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (mkdirs(pin) || bpf_link__pin(link, pin)) {
		fprintf(stderr, "pin %s: %s\n", pin, strerror(errno));
		return 1;
	}
	bpf_link__destroy(link);
	if (mkdirs(exp) || symlink(pin, exp)) {
		fprintf(stderr, "symlink %s: %s\n", exp, strerror(errno));
		return 1;
	}
	made++;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: attach_c OBJ PROG CGROUP_ROOT PIN_ROOT EXPOSE_ROOT NAME\n");
		return 2;
	}
	cg_root = argv[3];
	cg_len = strlen(cg_root);
	pin_root = argv[4];
	expose_root = argv[5];
	name = argv[6];
	double t0 = now();
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "load %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, argv[2]);
	if (!prog) {
		fprintf(stderr, "no program %s\n", argv[2]);
		return 1;
	}
	if (nftw(cg_root, one, 64, FTW_PHYS) != 0)
		return 1;
	printf("%ld %.0f\n", made, (now() - t0) * 1000);
	bpf_object__close(obj);
	return 0;
}
