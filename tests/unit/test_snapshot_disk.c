/* Unit tests of src/snapshot/disk.c, in a temp dir: a disk's identity and
 * what its check finds changed (mtime, size, another file, none), the
 * structural check of an identity, and copies out of and into a snapshot
 * directory: sparse files stay sparse, an existing copy is never
 * overwritten, a restore replaces the disk by rename and leaves the
 * snapshot's copy as it was. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/disk.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)

struct fixture {
	char tmp[64];      /* mkdtemp'ed */
	char snap[96];     /* tmp/snap: a snapshot directory */
	char disk[96];     /* tmp/disk.img */
	int snapfd;
	char err[1024];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->tmp, sizeof(f->tmp), "/tmp/nestvm-snapdisk-XXXXXX");
	if (!f || !mkdtemp(f->tmp))
		return -1;
	snprintf(f->snap, sizeof(f->snap), "%s/snap", f->tmp);
	snprintf(f->disk, sizeof(f->disk), "%s/disk.img", f->tmp);
	if (mkdir(f->snap, 0700) != 0)
		return -1;
	f->snapfd = open(f->snap, O_RDONLY | O_DIRECTORY);
	if (f->snapfd < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	close(f->snapfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->tmp);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void write_at(int fd, uint64_t off, size_t len, unsigned char seed)
{
	unsigned char *buf = malloc(len);

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed + i * 7 + (i >> 12));
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	free(buf);
}

static int make_file(const char *path, const char *text)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

/* 64 MiB: three data extents, holes between them and at the end. */
static int make_sparse(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(64 * MIB)), 0);
	write_at(fd, 0, 64 * KIB, 1);
	write_at(fd, 20 * MIB, 1 * MIB, 2);
	write_at(fd, 40 * MIB + 3, 100 * KIB, 3);
	assert_int_equal(fsync(fd), 0);
	return fd;
}

/* Two files hold the same bytes. */
static void assert_same_bytes(const char *a, const char *b)
{
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	char *ba = malloc(MIB), *bb = malloc(MIB);
	ssize_t na, nb;

	assert_true(fa >= 0 && fb >= 0);
	assert_non_null(ba);
	assert_non_null(bb);
	do {
		na = read(fa, ba, MIB);
		nb = read(fb, bb, MIB);
		assert_int_equal(na, nb);
		assert_true(na >= 0);
		assert_memory_equal(ba, bb, (size_t)na);
	} while (na > 0);
	free(ba);
	free(bb);
	close(fa);
	close(fb);
}

static void read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, len - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ---- identity ---- */

static void test_identity_same(void **state)
{
	struct fixture *f = *state;
	struct snap_disk_identity id;
	struct stat st;
	int fd = make_file(f->disk, "hello");

	assert_int_equal(snap_disk_identity_fd(fd, f->disk, &id), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(id.ino, st.st_ino);
	assert_int_equal(id.dev, st.st_dev);
	assert_int_equal(id.size, 5);
	assert_int_equal(id.mtime_sec, st.st_mtim.tv_sec);
	assert_int_equal(id.mtime_nsec, st.st_mtim.tv_nsec);
	assert_string_equal(id.path, f->disk);
	assert_int_equal(id.read_only, 0);
	assert_int_equal(id.copied, 0);
	assert_int_equal(snap_disk_identity_valid(&id, f->err, sizeof(f->err)), 0);
	assert_int_equal(snap_disk_identity_check(&id, f->disk, f->err, sizeof(f->err)), 0);
	close(fd);
}

static void test_identity_mtime_changed(void **state)
{
	struct fixture *f = *state;
	struct snap_disk_identity id;
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = 1600000000, .tv_nsec = 5 } };
	int fd = make_file(f->disk, "hello");

	assert_int_equal(snap_disk_identity_fd(fd, f->disk, &id), 0);
	assert_int_equal(utimensat(AT_FDCWD, f->disk, ts, 0), 0);
	assert_int_equal(snap_disk_identity_check(&id, f->disk, f->err, sizeof(f->err)), -ESTALE);
	print_message("mtime: %s\n", f->err);
	assert_non_null(strstr(f->err, f->disk));
	assert_non_null(strstr(f->err, "modified since the snapshot"));
	assert_non_null(strstr(f->err, "mtime 1600000000.000000005"));
	assert_null(strstr(f->err, "size"));
	close(fd);
}

static void test_identity_size_changed(void **state)
{
	struct fixture *f = *state;
	struct snap_disk_identity id;
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { 0 } };
	int fd = make_file(f->disk, "hello");

	assert_int_equal(snap_disk_identity_fd(fd, f->disk, &id), 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	/* The mtime put back: only the size tells. */
	ts[1].tv_sec = (time_t)id.mtime_sec;
	ts[1].tv_nsec = (long)id.mtime_nsec;
	assert_int_equal(utimensat(AT_FDCWD, f->disk, ts, 0), 0);
	assert_int_equal(snap_disk_identity_check(&id, f->disk, f->err, sizeof(f->err)), -ESTALE);
	print_message("size: %s\n", f->err);
	assert_non_null(strstr(f->err, f->disk));
	assert_non_null(strstr(f->err, "size 4096 bytes, was 5"));
	assert_null(strstr(f->err, "mtime"));
	close(fd);
}

static void test_identity_replaced(void **state)
{
	struct fixture *f = *state;
	struct snap_disk_identity id;
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { 0 } };
	char other[128];
	int fd = make_file(f->disk, "hello"), fd2;

	assert_int_equal(snap_disk_identity_fd(fd, f->disk, &id), 0);
	/* Same size, same mtime: only the inode differs. */
	snprintf(other, sizeof(other), "%s/other.img", f->tmp);
	fd2 = make_file(other, "HELLO");
	ts[1].tv_sec = (time_t)id.mtime_sec;
	ts[1].tv_nsec = (long)id.mtime_nsec;
	assert_int_equal(futimens(fd2, ts), 0);
	assert_int_equal(rename(other, f->disk), 0);
	assert_int_equal(snap_disk_identity_check(&id, f->disk, f->err, sizeof(f->err)), -ESTALE);
	print_message("replaced: %s\n", f->err);
	assert_non_null(strstr(f->err, f->disk));
	assert_non_null(strstr(f->err, "replaced"));
	close(fd);
	close(fd2);
}

static void test_identity_missing(void **state)
{
	struct fixture *f = *state;
	struct snap_disk_identity id;
	int fd = make_file(f->disk, "hello");

	assert_int_equal(snap_disk_identity_fd(fd, f->disk, &id), 0);
	assert_int_equal(unlink(f->disk), 0);
	assert_int_equal(snap_disk_identity_check(&id, f->disk, f->err, sizeof(f->err)), -ENOENT);
	assert_non_null(strstr(f->err, f->disk));
	assert_non_null(strstr(f->err, "gone"));
	close(fd);
}

static void test_identity_valid(void **state)
{
	struct fixture *f = *state;
	struct snap_disk_identity id = { .size = 1, .mtime_nsec = 10 };

	snprintf(id.path, sizeof(id.path), "/var/img/a.img");
	assert_int_equal(snap_disk_identity_valid(&id, f->err, sizeof(f->err)), 0);
	id.copied = 1;
	id.read_only = 1;
	assert_int_equal(snap_disk_identity_valid(&id, f->err, sizeof(f->err)), 0);
	id.copied = 2;
	assert_int_equal(snap_disk_identity_valid(&id, f->err, sizeof(f->err)), -EINVAL);
	id.copied = 0;
	id.read_only = 0x100;
	assert_int_equal(snap_disk_identity_valid(&id, f->err, sizeof(f->err)), -EINVAL);
	id.read_only = 0;
	id.mtime_nsec = 1000000000;
	assert_int_equal(snap_disk_identity_valid(&id, f->err, sizeof(f->err)), -EINVAL);
	id.mtime_nsec = 0;
	memset(id.path, 'a', sizeof(id.path));   /* no NUL anywhere */
	assert_int_equal(snap_disk_identity_valid(&id, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "NUL-terminated"));
	id.path[0] = '\0';
	assert_int_equal(snap_disk_identity_valid(&id, f->err, sizeof(f->err)), -EINVAL);
}

/* ---- copies ---- */

static void test_copy_out_sparse(void **state)
{
	struct fixture *f = *state;
	char copy[128];
	struct stat st;
	bool ref = true;
	int fd = make_sparse(f->disk);

	/* The VM's fd: its offset is left alone. */
	assert_int_equal(lseek(fd, 12345, SEEK_SET), 12345);
	assert_int_equal(snap_disk_copy_out(fd, f->snapfd, "disk-0.img", &ref, f->err,
					    sizeof(f->err)), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 12345);
	print_message("reflinked: %s\n", ref ? "yes" : "no");
	snprintf(copy, sizeof(copy), "%s/disk-0.img", f->snap);
	assert_same_bytes(f->disk, copy);
	assert_int_equal(stat(copy, &st), 0);
	assert_int_equal(st.st_size, 64 * MIB);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* About 1.2 MiB of data in 64 MiB: the holes stayed holes. */
	print_message("copy: %lld bytes in %lld blocks\n", (long long)st.st_size,
		      (long long)st.st_blocks);
	assert_true((uint64_t)st.st_blocks * 512 < 8 * MIB);
	/* Its data extents are where the source's are. */
	close(fd);
	fd = open(copy, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 1 * MIB, SEEK_DATA), 20 * MIB);
	close(fd);
}

static void test_copy_out_refuses_existing(void **state)
{
	struct fixture *f = *state;
	char copy[128], text[64];
	bool ref;
	int fd = make_file(f->disk, "new disk");

	snprintf(copy, sizeof(copy), "%s/disk-0.img", f->snap);
	close(make_file(copy, "old copy"));
	assert_int_equal(snap_disk_copy_out(fd, f->snapfd, "disk-0.img", &ref, f->err,
					    sizeof(f->err)), -EEXIST);
	assert_non_null(strstr(f->err, "disk-0.img"));
	read_text(copy, text, sizeof(text));
	assert_string_equal(text, "old copy");
	/* Not a file name. */
	assert_int_equal(snap_disk_copy_out(fd, f->snapfd, "../disk-0.img", &ref, f->err,
					    sizeof(f->err)), -EINVAL);
	close(fd);
}

/* A failed copy leaves no partial file. */
static void test_copy_out_failure_removes(void **state)
{
	struct fixture *f = *state;
	int dirfd = open(f->tmp, O_RDONLY | O_DIRECTORY);
	bool ref;

	assert_true(dirfd >= 0);
	assert_int_not_equal(snap_disk_copy_out(dirfd, f->snapfd, "disk-1.img", &ref, f->err,
						sizeof(f->err)), 0);
	print_message("directory as a disk: %s\n", f->err);
	assert_non_null(strstr(f->err, "disk-1.img"));
	assert_int_equal(count_entries(f->snap), 0);
	close(dirfd);
}

static void test_copy_in_replaces(void **state)
{
	struct fixture *f = *state;
	char copy[128], text[64];
	struct stat before, after, st;
	bool ref;
	int fd = make_sparse(f->disk), old;

	assert_int_equal(snap_disk_copy_out(fd, f->snapfd, "disk-0.img", &ref, f->err,
					    sizeof(f->err)), 0);
	close(fd);
	snprintf(copy, sizeof(copy), "%s/disk-0.img", f->snap);
	assert_int_equal(stat(copy, &before), 0);
	/* The disk changes after the snapshot; someone still has it open. */
	old = make_file(f->disk, "changed since");
	assert_int_equal(fchmod(old, 0640), 0);
	assert_int_equal(snap_disk_copy_in(f->snapfd, "disk-0.img", f->disk, &ref, f->err,
					   sizeof(f->err)), 0);
	assert_same_bytes(copy, f->disk);
	assert_int_equal(stat(f->disk, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 < 8 * MIB);
	assert_int_equal(st.st_mode & 0777, 0640);   /* the disk's mode, not the copy's */
	/* Replaced by rename: the old file is whole, unchanged, another inode. */
	assert_int_not_equal(st.st_ino, before.st_ino);
	assert_int_equal(pread(old, text, sizeof(text), 0), 13);
	assert_memory_equal(text, "changed since", 13);
	/* The snapshot's copy is as it was. */
	assert_int_equal(stat(copy, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	/* No temporary file left beside the disk: disk.img and snap. */
	assert_int_equal(count_entries(f->tmp), 2);
	close(old);
}

static void test_copy_in_symlink_and_refusals(void **state)
{
	struct fixture *f = *state;
	char copy[128], link[128], text[64];
	struct stat st;
	bool ref;

	snprintf(copy, sizeof(copy), "%s/disk-0.img", f->snap);
	close(make_file(copy, "from the snapshot"));
	close(make_file(f->disk, "current"));
	/* Through a symlink: the file it names is replaced, the link stays. */
	snprintf(link, sizeof(link), "%s/link.img", f->tmp);
	assert_int_equal(symlink(f->disk, link), 0);
	assert_int_equal(snap_disk_copy_in(f->snapfd, "disk-0.img", link, &ref, f->err,
					   sizeof(f->err)), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	read_text(f->disk, text, sizeof(text));
	assert_string_equal(text, "from the snapshot");
	/* No such copy: the disk is left as it is. */
	close(make_file(f->disk, "current"));
	assert_int_equal(snap_disk_copy_in(f->snapfd, "disk-9.img", f->disk, &ref, f->err,
					   sizeof(f->err)), -ENOENT);
	assert_non_null(strstr(f->err, "disk-9.img"));
	read_text(f->disk, text, sizeof(text));
	assert_string_equal(text, "current");
	/* A copy that fails after the temporary file exists (the snapshot's
	 * "copy" is a directory): the temporary file goes, the disk stays. */
	snprintf(copy, sizeof(copy), "%s/disk-5.img", f->snap);
	assert_int_equal(mkdir(copy, 0700), 0);
	assert_int_equal(snap_disk_copy_in(f->snapfd, "disk-5.img", f->disk, &ref, f->err,
					   sizeof(f->err)), -EINVAL);
	print_message("a directory as the copy: %s\n", f->err);
	assert_non_null(strstr(f->err, "as it was"));
	read_text(f->disk, text, sizeof(text));
	assert_string_equal(text, "current");
	/* Not a regular file: a rename cannot put a copy into it. */
	assert_int_equal(snap_disk_copy_in(f->snapfd, "disk-0.img", f->snap, &ref, f->err,
					   sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "not a regular file"));
	assert_int_equal(count_entries(f->tmp), 3);   /* disk.img, link.img, snap */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_identity_same),
		T(test_identity_mtime_changed),
		T(test_identity_size_changed),
		T(test_identity_replaced),
		T(test_identity_missing),
		T(test_identity_valid),
		T(test_copy_out_sparse),
		T(test_copy_out_refuses_existing),
		T(test_copy_out_failure_removes),
		T(test_copy_in_replaces),
		T(test_copy_in_symlink_and_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
