/* Boot one VM from run options and run it to its end: the core of
 * `nestvm run` (foreground, console on stdin/stdout) and of the background
 * VM process `start` launches (console on a socket, a log file, the API).
 *
 * Threads are described in docs/design.md; the runner only assembles them:
 * load the inputs, create the VM and its devices, load the kernel, start
 * the I/O thread and the console, then vm_run() until the VM stops. */
#ifndef NESTVM_MACHINE_RUNNER_H
#define NESTVM_MACHINE_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/vmconfig.h"
#include "nested/level.h"
#include "machine/console.h"
#include "vmm/vm.h"
#include "x86/boot.h"
#include "machine/platform.h"

struct runner;
struct machine_restore;
struct machine_incoming;

struct runner_hooks {
	/* Guest serial output. NULL: the terminal console (stdout), with
	 * stdin as its input and the Ctrl-A escapes. */
	serial_out_fn out_fn;
	void *out_opaque;
	/* After the devices exist, before the kernel is loaded (e.g. start a
	 * console socket on runner_serial(r)). Non-zero fails the start. */
	int (*on_devices)(struct runner *r, void *opaque, char *err, size_t errlen);
	/* Everything is set up; the vCPUs start right after this returns. */
	void (*on_ready)(struct runner *r, void *opaque);
	void *opaque;
	/* Start from this snapshot directory (machine/snapshot.h) instead of
	 * booting the kernel; NULL: boot. eager: read guest memory in before
	 * the vCPUs start instead of mapping it. */
	const char *restore_dir;
	bool restore_eager;
	/* Start from a live migration's stream (machine/migrate.h) instead:
	 * the OFFER already read (machine_incoming_hello). */
	struct machine_incoming *incoming;
};

struct runner {
	struct vm_config cfg;              /* a copy: the runner owns it */
	uint8_t *kernel, *initrd;
	size_t kernel_len, initrd_len;
	struct bzimage_info info;
	struct vm vm;
	bool vm_created;
	struct platform plat;
	struct console con;
	bool con_used;
	struct nest_level here;
	struct nest_guest plan;
	enum vm_stop_reason stop_reason;   /* after runner_run */
	bool restored;                     /* started from a snapshot */
	struct machine_restore *restore;   /* while restoring; NULL otherwise */
	int mem_fd;                        /* the memory file guest RAM is mapped from; -1 none */
};

/* Set the log level from -v/-q (0 normal: warnings and errors). */
void runner_set_verbosity(int v);

/* Run the VM described by `cfg` (copied) to its end. Returns the exit
 * status of `nestvm run` (EXIT_* in cli/commands.h, or 128+signal); err
 * holds the message of a failure (empty otherwise). Call runner_free()
 * afterwards in every case. */
int runner_run(struct runner *r, const struct vm_config *cfg, const struct runner_hooks *h,
	       char *err, size_t errlen);
void runner_free(struct runner *r);

/* The board's serial port (after on_devices' point). */
struct serial8250 *runner_serial(struct runner *r);

/* The stop reason as a sentence ("the guest powered off"). */
const char *runner_stop_text(const struct runner *r, char *buf, size_t len);

#endif
