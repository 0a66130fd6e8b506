/* Checked reads of JSON configuration objects, shared by the VM
 * configuration (config/) and the device classes' config_check (hw/,
 * virtio/): one wording for every message.
 *
 * Every function takes `where`, the place being read ("config",
 * "nics[0]"), which starts its message as `where: "key" ...`; NULL or ""
 * gives the message without it. They return 0, or -EINVAL with a message.
 * Pure; no threads.
 */
#ifndef NESTVM_VMM_JSONCHECK_H
#define NESTVM_VMM_JSONCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

int jcheck_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Refuse keys not in `keys` (NULL-terminated): a misspelt "cpu" must not
 * silently give a one-vCPU VM. */
int jcheck_known(const json_t *obj, const char *where, const char *const *keys, char *err,
		 size_t errlen);

/* A string of fewer than `max` bytes with no NUL; absent or null gives NULL
 * in *out, or an error when `required`. *out points into obj. */
int jcheck_str(const json_t *obj, const char *where, const char *key, bool required, size_t max,
	       const char **out, char *err, size_t errlen);

/* true or false; absent gives false. */
int jcheck_bool(const json_t *obj, const char *where, const char *key, bool *out, char *err,
		size_t errlen);

/* An integer in [min, max]; absent (or null when null_ok) gives `dflt`,
 * or an error when absent and `required`. */
int jcheck_int(const json_t *obj, const char *where, const char *key, bool required,
	       bool null_ok, json_int_t min, json_int_t max, json_int_t dflt, json_int_t *out,
	       char *err, size_t errlen);

/* An array of at most `max` items; absent or null gives NULL. */
int jcheck_array(const json_t *obj, const char *where, const char *key, size_t max,
		 json_t **out, char *err, size_t errlen);

#endif
