/* Writes the seed of fuzz_snapshot_restore: a valid state file for the VM
 * of fuzz_restore.h, built by the unit tests' fixture with the real
 * writer. Usage: gen_restore_seed PATH (replaced if there). Built by
 * `make fuzz-build`, run by tests/fuzz/seeds. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_restore.h"

int main(int argc, char **argv)
{
	char dir[4096], base[4096], err[512] = "";
	struct vm_config cfg;
	int dirfd, r;

	if (argc != 2 || strlen(argv[1]) >= sizeof(dir)) {
		fprintf(stderr, "usage: gen_restore_seed PATH\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	snprintf(base, sizeof(base), "%s", argv[1]);
	dirfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		fprintf(stderr, "gen_restore_seed: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s", basename(base));
	unlinkat(dirfd, dir, 0);
	r = fuzz_restore_config(&cfg, err, sizeof(err));
	if (!r)
		r = snap_fixture_write_state(dirfd, dir, &cfg, SNAP_FIX_COPIED, err, sizeof(err));
	vmconfig_free(&cfg);
	close(dirfd);
	if (r) {
		fprintf(stderr, "gen_restore_seed: %s\n", err);
		return 1;
	}
	return 0;
}
