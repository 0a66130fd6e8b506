/* Header-only loader of recorded CPUID tables (tests/unit/fixtures/cpuid-*.txt)
 * for the unit tests. Format: '#' comment lines, then one entry a line,
 * "function index flags eax ebx ecx edx" in hex; flags bit 0 is
 * KVM_CPUID_FLAG_SIGNIFCANT_INDEX. Paths are relative to the repository root,
 * where tests/unit/run-all runs the test binaries.
 *
 * Include after <cmocka.h>. */
#ifndef NESTVM_TESTS_CPUID_FIXTURE_H
#define NESTVM_TESTS_CPUID_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#define CPUID_FIXTURE_DIR   "tests/unit/fixtures/"
#define CPUID_FIXTURE_INTEL CPUID_FIXTURE_DIR "cpuid-intel-icelake-kvm-nested.txt"
#define CPUID_FIXTURE_AMD   CPUID_FIXTURE_DIR "cpuid-amd-tcg-kvm-nested.txt"
#define CPUID_FIXTURE_MAX   256

static inline size_t cpuid_fixture_size(uint32_t cap)
{
	return sizeof(struct kvm_cpuid2) + (size_t)cap * sizeof(struct kvm_cpuid_entry2);
}

/* Load a fixture into a malloc()ed table with room for `extra` more entries
 * (*cap, when not NULL, gets nent + extra). Fails the running test with the
 * reason when the file is missing or malformed. */
static inline struct kvm_cpuid2 *cpuid_fixture_load(const char *path, uint32_t extra,
						      uint32_t *cap)
{
	struct kvm_cpuid_entry2 e[CPUID_FIXTURE_MAX];
	struct kvm_cpuid2 *c;
	char line[256];
	uint32_t n = 0;
	int lineno = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		fail_msg("cannot open CPUID fixture %s: %s (run the tests from the repository "
			 "root, as tests/unit/run-all does)", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned int v[7];
		const char *s = line + strspn(line, " \t");

		lineno++;
		if (*s == '#' || *s == '\n' || *s == '\0')
			continue;
		if (sscanf(s, "%x %x %x %x %x %x %x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
			   &v[6]) != 7 || (v[2] & ~(unsigned int)KVM_CPUID_FLAG_SIGNIFCANT_INDEX)) {
			fclose(f);
			fail_msg("%s:%d: not \"function index flags eax ebx ecx edx\" in hex "
				 "(flags 0 or 1)", path, lineno);
		}
		if (n >= CPUID_FIXTURE_MAX) {
			fclose(f);
			fail_msg("%s: more than %d entries", path, CPUID_FIXTURE_MAX);
		}
		memset(&e[n], 0, sizeof(e[n]));
		e[n].function = v[0];
		e[n].index = v[1];
		e[n].flags = v[2] ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
		e[n].eax = v[3];
		e[n].ebx = v[4];
		e[n].ecx = v[5];
		e[n].edx = v[6];
		n++;
	}
	fclose(f);
	if (n == 0)
		fail_msg("%s: no CPUID entries", path);
	c = malloc(cpuid_fixture_size(n + extra));
	assert_non_null(c);
	memset(c, 0, cpuid_fixture_size(n + extra));
	c->nent = n;
	memcpy(c->entries, e, n * sizeof(e[0]));
	if (cap)
		*cap = n + extra;
	return c;
}

/* A copy of a table, with the same room (cap entries). */
static inline struct kvm_cpuid2 *cpuid_fixture_dup(const struct kvm_cpuid2 *c, uint32_t cap)
{
	struct kvm_cpuid2 *d = malloc(cpuid_fixture_size(cap));

	assert_non_null(d);
	assert_true(c->nent <= cap);
	memset(d, 0, cpuid_fixture_size(cap));
	memcpy(d, c, cpuid_fixture_size(c->nent));
	return d;
}

/* The entry for (function, index), honouring the significant-index flag. */
static inline struct kvm_cpuid_entry2 *cpuid_fixture_find(struct kvm_cpuid2 *c, uint32_t function,
							 uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == function &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
			return e;
	}
	return NULL;
}

#endif
