/* The device model: every device of the board (serial, i8042, ACPI PM, the
 * PCI host bridge, each virtio-pci function) is a unit described by one
 * struct device_class and found in one table (src/devices/table.c).
 *
 * A class has two halves:
 *  - its configuration (pure, no files opened, no VM needed): how the CLI
 *    option that adds it is parsed, how its piece of the VM configuration
 *    is checked, under which key it sits in the configuration's JSON;
 *  - its runtime: create from that configuration, destroy, quiesce and
 *    resume (so nothing it owns writes guest memory or its own state in
 *    between), save and restore its guest-visible state.
 *
 * Guest-visible state is a plain struct (no fds, locks, pointers or
 * threads) of a fixed size, `state_size`, whose layout is identified by
 * `state_version`. save() fills such a struct; restore() checks every
 * field of one (a queue index beyond the queue size, an MSI-X vector beyond
 * the table, a register value the device cannot hold) and refuses it with a
 * message before changing anything. Both run while the machine is
 * quiesced (vCPUs parked, I/O loop parked, backends quiet).
 *
 * Layering: this header is the lowest layer's (vmm/); device files in hw/
 * and virtio/ implement it, devices/ lists them, the machine (x86/
 * platform.c) loops over the list. Only forward declarations of the
 * board's pieces appear here.
 */
#ifndef NESTVM_VMM_DEVICE_H
#define NESTVM_VMM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct vm;
struct pci_bus;
struct irq_router;
struct evloop;

/* What the board gives every device it creates. */
struct device_host {
	struct vm *vm;               /* guest memory, VM fd, buses, stop and IRQ line */
	struct pci_bus *pci;         /* PCI bus 0, for PCI functions */
	struct irq_router *irq;      /* MSI routes */
	struct evloop *loop;         /* the I/O thread */
	unsigned int index;          /* 0, 1, ... among the devices of this class */
	int intx_gsi;                /* the GSI of this PCI function's INTx line (board's wiring), -1 none */
	int pci_slot;                /* the PCI slot the board gives this function; 0: none */
	/* The guest's console output (serial only; NULL elsewhere). */
	void (*console_out)(void *opaque, const uint8_t *buf, size_t len);
	void *console_opaque;
};

struct device_class {
	const char *name;            /* "serial", "virtio-blk": the type in configs, states and messages */

	/* --- configuration ---------------------------------------------- */
	/* Board devices are always there, one each, and have no configuration
	 * (cli_option and json_key NULL). */
	bool board;
	/* The CLI option that adds one: "disk" for --disk ARG. NULL: none. */
	const char *cli_option;
	/* The option takes no argument and appears at most once (--rng). */
	bool cli_flag;
	/* Options that modify the device named before them on the command line
	 * ("mac", "mac-spoofing", "allow-mac", "forward" for virtio-net);
	 * NULL-terminated; NULL: none. */
	const char *const *cli_modifiers;
	/* The help lines of its option(s) for `nestvm run --help` and `create`
	 * ("      --disk PATH[,ro] a virtio-blk disk ...\n", modifiers after
	 * it); `set --help` derives its lines from cli_option. NULL: none. */
	const char *cli_help;
	/* Key of this class in the VM configuration's JSON: a list of objects
	 * ("disks": [{...}]) or, for a cli_flag class, a boolean ("rng": true). */
	const char *json_key;
	unsigned int max_count;      /* how many a VM may have */
	/* The CLI option's argument into a configuration object (a new
	 * reference). NULL arg for a cli_flag class. -EINVAL with a message. */
	int (*config_parse)(const char *arg, json_t **out, char *err, size_t errlen);
	/* A modifier option applied to the configuration of the device before
	 * it. -EINVAL with a message. */
	int (*config_modify)(json_t *cfg, const char *opt, const char *arg, char *err,
			     size_t errlen);
	/* Check a configuration object (types, ranges, unknown keys, limits).
	 * 0 or -EINVAL with a message naming the field. */
	int (*config_check)(const json_t *cfg, char *err, size_t errlen);
	/* Defaults that depend on the device's place among its class (a
	 * NIC's MAC 02:4e:56:00:00:0N), filled in by the CLI after
	 * config_parse when absent. NULL: none. */
	void (*config_default)(json_t *cfg, unsigned int index);
	/* The argument of the device a modifier creates when none of the class
	 * was named before it ("user": `--mac X` alone gives a user-mode NIC).
	 * NULL: a modifier needs its device first. */
	const char *cli_default_arg;
	/* Key of a host file path in cfg ("path" of a disk) that a stored
	 * definition makes absolute (regular file or block device), like the
	 * kernel's. NULL: none. */
	const char *config_path_key;

	/* --- runtime ------------------------------------------------------ */
	/* Create one device from its (checked) configuration; cfg is NULL for a
	 * board device or a cli_flag class. *dev is the device's own object.
	 * -errno with a message. */
	int (*create)(const struct device_host *h, const json_t *cfg, void **dev, char *err,
		      size_t errlen);
	/* Free everything create() made (also after a failed create that set
	 * *dev). NULL dev does nothing. */
	void (*destroy)(void *dev);
	/* Stop every thread the device owns (backends) from touching guest
	 * memory and device state until resume(); requests in flight are
	 * completed first. NULL: the device has no thread of its own (its work
	 * runs on vCPU threads or the I/O loop, which the machine parks). */
	void (*quiesce)(void *dev);
	void (*resume)(void *dev);
	/* The guest-visible state. */
	uint32_t state_version;
	size_t state_size;
	/* Fill `state` (state_size bytes). Quiesced. */
	void (*save)(void *dev, void *state);
	/* Load a state of this class: refuses (-EINVAL, message, device
	 * unchanged) another version, another size or an out-of-range field.
	 * Quiesced. */
	int (*restore)(void *dev, const void *state, size_t size, uint32_t version, char *err,
		       size_t errlen);
	/* Snapshots. flush: make durable what the guest was told is written
	 * (a disk's fdatasync). backing_file: the host file the device's
	 * contents live in (a disk image): its open fd, its path, read-only;
	 * the snapshot records its identity (or copies it). Both quiesced;
	 * NULL: the class has none. */
	int (*flush)(void *dev, char *err, size_t errlen);
	int (*backing_file)(void *dev, int *fd, const char **path, bool *read_only);
};

/* What every restore checks first: the state is of the class's version
 * and size. 0, or -EINVAL with "NAME: state version V, this build reads W"
 * or "NAME: state size N, expected M". */
int device_state_check_header(const struct device_class *cls, size_t size, uint32_t version,
			      char *err, size_t errlen);

#endif
