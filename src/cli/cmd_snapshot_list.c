/* A VM's snapshot records: nestvm list --snapshots NAME [--json] and
 * nestvm snapshot delete NAME DIR (reached through the snapshot command).
 * Taking and restoring snapshots is cmd_snapshot.c's. */
#include "cli/commands.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/vmctl.h"
#include "vmm/log.h"

static bool snap_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static void snap_iso_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm))
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *snap_yes_no(bool b)
{
	return b ? "yes" : "no";
}

/* ---- list --snapshots ---- */

static const char *snap_list_usage(void)
{
	return "usage: nestvm list --snapshots NAME [--json] [--state-dir DIR]\n"
	       "\n"
	       "The snapshots nestvm took of VM NAME, oldest first: the directory, when it was\n"
	       "taken (UTC), the space its files take, whether it holds copies of the disks\n"
	       "(DISKS), whether a nested guest was running (NESTED), whether the VM was left\n"
	       "stopped (STOPPED). --json: an array of objects with dir, created, size and\n"
	       "memory_size (bytes), with_disks, stopped, nested_guest_running.\n";
}

static void snap_list_table(const char *name, const struct snapshot_record *v, size_t n)
{
	int w = 3;

	if (n == 0) {
		printf("no snapshots of '%s'\n", name);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if ((int)strlen(v[i].dir) > w)
			w = (int)strlen(v[i].dir);
	printf("%-*s %-20s %10s %-5s %-6s %s\n", w, "DIR", "CREATED", "SIZE", "DISKS", "NESTED",
	       "STOPPED");
	for (size_t i = 0; i < n; i++) {
		char when[32], size[32];

		snap_iso_time(v[i].created, when, sizeof(when));
		vmconfig_format_size(v[i].size, size, sizeof(size));
		printf("%-*s %-20s %10s %-5s %-6s %s\n", w, v[i].dir, when, size,
		       snap_yes_no(v[i].with_disks), snap_yes_no(v[i].nested_guest_running),
		       snap_yes_no(v[i].stopped));
	}
}

static void snap_list_json(const struct snapshot_record *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		char when[32];

		snap_iso_time(v[i].created, when, sizeof(when));
		json_array_append_new(a, json_pack("{s:s, s:o, s:I, s:I, s:b, s:b, s:b}",
			"dir", v[i].dir,
			"created", v[i].created > 0 ? json_string(when) : json_null(),
			"size", (json_int_t)v[i].size, "memory_size", (json_int_t)v[i].memory_size,
			"with_disks", v[i].with_disks, "stopped", v[i].stopped,
			"nested_guest_running", v[i].nested_guest_running));
	}
	json_dumpf(a, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(a);
}

int cmd_list_snapshots(int argc, char **argv)
{
	struct snapshot_record *v = NULL;
	const char *dir, *name = NULL;
	struct vmctl c;
	bool json = false;
	char err[1024];
	size_t n = 0;
	int r;

	if (vmctl_take_state_dir(&argc, argv, &dir, err, sizeof(err))) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	if (snap_wants_help(argc, argv)) {
		fputs(snap_list_usage(), stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--snapshots") == 0 && i + 1 < argc &&
			   argv[i + 1][0] != '-' && !name) {
			name = argv[++i];
		} else if (strncmp(argv[i], "--snapshots=", 12) == 0 && argv[i][12] && !name) {
			name = argv[i] + 12;
		} else if (strncmp(argv[i], "--snapshots", 11) == 0) {
			log_error("--snapshots needs one VM name: nestvm list --snapshots NAME");
			return EXIT_USAGE;
		} else {
			log_error("unexpected argument '%s' (nestvm list --help)", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!name) {
		log_error("--snapshots needs one VM name: nestvm list --snapshots NAME");
		return EXIT_USAGE;
	}
	r = vmctl_open(&c, dir, name, 0);
	if (r)
		return r;
	r = registry_snapshot_list(c.reg, name, &v, &n, err, sizeof(err));
	if (r) {
		log_error("%s", err);
	} else if (json) {
		snap_list_json(v, n);
	} else {
		snap_list_table(name, v, n);
	}
	free(v);
	vmctl_close(&c);
	return vmctl_status(r);
}

/* ---- snapshot delete ---- */

static const char *snap_delete_usage(void)
{
	return "usage: nestvm snapshot delete NAME DIR [--state-dir DIR]\n"
	       "\n"
	       "Forget the snapshot of VM NAME in DIR and remove its files there (state,\n"
	       "memory, disk-N.img, state.tmp; nothing else), then DIR itself when that\n"
	       "leaves it empty. Refused when nestvm has no such snapshot of NAME\n"
	       "(nestvm list --snapshots NAME).\n";
}

/* DIR as the record has it: realpath when it exists; else absolute by the
 * working directory, without trailing slashes. */
static int snap_dir_absolute(const char *in, char *out, size_t len)
{
	char cwd[PATH_MAX];
	size_t n;
	int w;

	if (realpath(in, out))   /* out holds PATH_MAX */
		return 0;
	if (errno != ENOENT && errno != ENOTDIR) {
		log_error("snapshot directory %s: %s", in, strerror(errno));
		return -errno;
	}
	if (in[0] == '/') {
		w = snprintf(out, len, "%s", in);
	} else if (getcwd(cwd, sizeof(cwd))) {
		w = snprintf(out, len, "%s/%s", cwd, in);
	} else {
		log_error("cannot resolve %s: %s", in, strerror(errno));
		return -errno;
	}
	if (w < 0 || (size_t)w >= len) {
		log_error("the snapshot directory %s is too long", in);
		return -ENAMETOOLONG;
	}
	for (n = strlen(out); n > 1 && out[n - 1] == '/'; n--)
		out[n - 1] = '\0';
	return 0;
}

/* A file a snapshot writes: state, memory, state.tmp, disk-N.img. */
static bool snap_is_snapshot_file(const char *f)
{
	const char *p;

	if (strcmp(f, "state") == 0 || strcmp(f, "memory") == 0 || strcmp(f, "state.tmp") == 0)
		return true;
	if (strncmp(f, "disk-", 5) != 0)
		return false;
	for (p = f + 5; *p >= '0' && *p <= '9'; p++)
		;
	return p > f + 5 && strcmp(p, ".img") == 0;
}

/* Remove the snapshot's files in path, then path when it is empty. 0, or
 * -errno with what was left already reported. *kept: other files stay. */
static int snap_remove_files(const char *path, bool *kept)
{
	struct dirent *e;
	DIR *d;
	int r = 0;

	*kept = false;
	d = opendir(path);
	if (!d) {
		if (errno == ENOENT)
			return 0;   /* already gone */
		log_error("cannot open %s to remove the snapshot's files: %s", path,
			  strerror(errno));
		return -errno;
	}
	while ((errno = 0, e = readdir(d))) {
		if (!snap_is_snapshot_file(e->d_name))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT) {
			log_error("cannot remove %s/%s: %s", path, e->d_name, strerror(errno));
			r = -errno;
		}
	}
	if (errno && !r) {
		log_error("cannot read %s: %s", path, strerror(errno));
		r = -errno;
	}
	closedir(d);
	if (rmdir(path) == 0 || errno == ENOENT)
		return r;
	if (errno == ENOTEMPTY || errno == EEXIST) {
		*kept = true;
		return r;
	}
	log_error("cannot remove the directory %s: %s", path, strerror(errno));
	return r ? r : -errno;
}

int cmd_snapshot_delete(int argc, char **argv)
{
	char path[PATH_MAX], err[1024];
	struct snapshot_record rec;
	const char *sdir, *name;
	struct vmctl c;
	bool kept;
	int r, status;

	/* Handed the snapshot command's argv as is: start at "delete". */
	if (argc > 1 && strcmp(argv[0], "snapshot") == 0 && strcmp(argv[1], "delete") == 0) {
		argc--;
		argv++;
	}
	if (vmctl_take_state_dir(&argc, argv, &sdir, err, sizeof(err))) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	if (snap_wants_help(argc, argv)) {
		fputs(snap_delete_usage(), stdout);
		return 0;
	}
	if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-' || !argv[2][0]) {
		log_error("snapshot delete needs a VM name and a directory: nestvm snapshot delete "
			  "NAME DIR (nestvm snapshot delete --help)");
		return EXIT_USAGE;
	}
	name = argv[1];
	if (snap_dir_absolute(argv[2], path, sizeof(path)))
		return EXIT_USAGE;
	status = vmctl_open(&c, sdir, name, VMCTL_LOCK | VMCTL_GET);
	if (status)
		return status;
	/* The record first: a snapshot half removed is never listed. */
	r = registry_snapshot_get(c.reg, name, path, &rec, err, sizeof(err));
	if (!r)
		r = registry_snapshot_delete(c.reg, name, path, err, sizeof(err));
	if (r) {
		if (r == -ENOENT)
			log_error("%s (nestvm list --snapshots %s)", err, name);
		else
			log_error("%s", err);
		vmctl_close(&c);
		return vmctl_status(r);
	}
	r = snap_remove_files(path, &kept);
	vmctl_close(&c);
	if (r) {
		log_error("the record of snapshot %s of '%s' is deleted, but some of its files "
			  "are left (see above)", path, name);
		return EXIT_VMM_ERROR;
	}
	printf("deleted snapshot %s of '%s'\n", path, name);
	if (kept)
		printf("kept the directory %s: it holds other files\n", path);
	return 0;
}
