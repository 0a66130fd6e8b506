/* Common start of the lifecycle commands (see vmctl.h). */
#include "cli/vmctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "vmm/log.h"

int vmctl_take_state_dir(int *argc, char **argv, const char **dir, char *err, size_t errlen)
{
	int out = 1;

	*dir = NULL;
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--state-dir") == 0) {
			if (i + 1 >= *argc || !argv[i + 1][0]) {
				snprintf(err, errlen, "--state-dir needs a directory");
				return -EINVAL;
			}
			*dir = argv[++i];
		} else if (strncmp(argv[i], "--state-dir=", 12) == 0) {
			if (!argv[i][12]) {
				snprintf(err, errlen, "--state-dir needs a directory");
				return -EINVAL;
			}
			*dir = argv[i] + 12;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

/* A relative state directory is made absolute: the VM process and its
 * sockets must not depend on the CLI's working directory. */
static int vmctl_absolute(char *dir, size_t len, char *err, size_t errlen)
{
	char cwd[VMDIR_PATH_MAX], *rel = strdup(dir);
	int n;

	if (!rel || !getcwd(cwd, sizeof(cwd))) {
		free(rel);
		snprintf(err, errlen, "cannot resolve a relative state directory: %s", strerror(errno));
		return -EINVAL;
	}
	n = snprintf(dir, len, "%s/%s", cwd, rel);
	free(rel);
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "the state directory path is too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

int vmctl_status(int r)
{
	switch (r) {
	case 0:
		return 0;
	case -EPERM:
		return EXIT_REFUSED;
	case -ENOENT:
	case -EINVAL:
	case -EEXIST:
	case -ENAMETOOLONG:
		return EXIT_USAGE;
	default:
		return EXIT_VMM_ERROR;
	}
}

int vmctl_open(struct vmctl *c, const char *state_dir_opt, const char *name, unsigned int flags)
{
	char err[1024] = "";
	int r;

	memset(c, 0, sizeof(*c));
	c->oplock = -1;
	r = registry_state_dir(state_dir_opt, c->state_dir, sizeof(c->state_dir), err,
			       sizeof(err));
	if (!r && c->state_dir[0] != '/')
		r = vmctl_absolute(c->state_dir, sizeof(c->state_dir), err, sizeof(err));
	if (!r && name)
		r = vmconfig_check_name(name, err, sizeof(err));
	if (!r && name)
		r = vm_paths_get(c->state_dir, name, &c->paths, err, sizeof(err));
	if (!r)
		r = registry_open(&c->reg, c->state_dir, err, sizeof(err));
	if (!r && name && (flags & VMCTL_LOCK)) {
		r = vm_dir_create(&c->paths, err, sizeof(err));
		if (!r) {
			c->oplock = vm_oplock_take(&c->paths, name, VMCTL_OPLOCK_TIMEOUT_S, err,
						   sizeof(err));
			r = c->oplock < 0 ? c->oplock : 0;
		}
	} else if (!r && name && (flags & VMCTL_TRYLOCK) && access(c->paths.oplock, F_OK) == 0) {
		char ignored[256];

		c->oplock = vm_oplock_take(&c->paths, name, 0, ignored, sizeof(ignored));
	}
	if (!r && name && (flags & VMCTL_GET)) {
		r = registry_get(c->reg, name, &c->rec, err, sizeof(err));
		/* Reconciling writes: only under the operation lock, so it never
		 * races a start in progress (whose process is not up yet). */
		if (!r && c->oplock >= 0)
			r = vm_reconcile(c->reg, &c->paths, &c->rec, err, sizeof(err));
	}
	if (r) {
		log_error("%s", err);
		vmctl_close(c);
		return r == -ENOENT || r == -EINVAL || r == -ENAMETOOLONG ? EXIT_USAGE :
			EXIT_VMM_ERROR;
	}
	return 0;
}

void vmctl_close(struct vmctl *c)
{
	vm_record_free(&c->rec);
	if (c->reg)
		registry_close(c->reg);
	c->reg = NULL;
	if (c->oplock >= 0)
		close(c->oplock);
	c->oplock = -1;
}

void vmctl_iso_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm))
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
