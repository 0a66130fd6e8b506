/* `nestvm debug`: checks of a running VM's internals, for tests and for
 * whoever debugs nestvm.
 *
 *   nestvm debug state-roundtrip NAME [--count N] [--json] [--state-dir DIR]
 *
 * asks the VM's process (control API: POST /v1/vm/actions
 * {"action": "state-roundtrip"}) N times to read every vCPU's and the VM's
 * state, load it back, read it again and compare. */
#include "cli/commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/api.h"
#include "cli/options.h"
#include "cli/vmctl.h"
#include "lifecycle/state.h"
#include "vmm/log.h"

#define DEBUG_API_TIMEOUT_MS 30000
#define DEBUG_COUNT_MAX      100000

static const char debug_usage[] =
	"usage: nestvm debug state-roundtrip NAME [--count N] [--json] [--state-dir DIR]\n"
	"\n"
	"state-roundtrip: in the running (or paused) VM NAME, every vCPU's own thread\n"
	"reads its whole state (registers, SREGS2, XSAVE, XCRs, MSRs, LAPIC, events,\n"
	"debug registers, MP state, nested state), loads it back, reads it again and\n"
	"compares; vCPU 0 does the same for the VM's state (PICs, IOAPIC, PIT, clock,\n"
	"TSC frequency). The VM is paused around each round trip. --count N does it N\n"
	"times (default 1); a line per round trip, or its JSON with --json. Exit 0 when\n"
	"every one matched, 4 when one failed or differed, 5 when the VM is not\n"
	"running or paused.";

/* One line per round trip: per vCPU, bytes compared and nested state. */
static void debug_print_roundtrip(unsigned int n, const json_t *reply)
{
	const json_t *vcpus = json_object_get(reply, "vcpus"), *v;
	const json_t *vm = json_object_get(reply, "vm");
	size_t i;

	printf("round trip %u:", n);
	json_array_foreach(vcpus, i, v) {
		const json_t *fmt = json_object_get(v, "nested_format");

		printf(" vCPU %lld: %lld bytes equal, guest_mode %s, nested state %lld bytes%s%s%s,"
		       " %lld MSRs (%lld refused);",
		       json_integer_value(json_object_get(v, "index")),
		       json_integer_value(json_object_get(v, "bytes_compared")),
		       json_is_true(json_object_get(v, "guest_mode")) ? "true" : "false",
		       json_integer_value(json_object_get(v, "nested_state_size")),
		       json_is_string(fmt) ? " (" : "", json_is_string(fmt) ?
		       json_string_value(fmt) : "", json_is_string(fmt) ? ")" : "",
		       json_integer_value(json_object_get(v, "msr_count")),
		       json_integer_value(json_object_get(v, "msrs_skipped")));
	}
	printf(" VM: %lld bytes equal, clock %s\n",
	       json_integer_value(json_object_get(vm, "bytes_compared")),
	       json_is_true(json_object_get(vm, "clock_written")) ? "written" : "not written");
	fflush(stdout);
}

static int debug_roundtrip_once(struct vmctl *c, unsigned int n, bool as_json)
{
	json_t *body = json_pack("{s:s}", "action", "state-roundtrip"), *reply = NULL;
	char err[768];
	long status = 0;
	int r;

	r = api_client_request(c->paths.api, "POST", "/v1/vm/actions", body, DEBUG_API_TIMEOUT_MS,
			       &status, &reply, err, sizeof(err));
	json_decref(body);
	if (r) {
		log_error("round trip %u: %s", n, err);
		return EXIT_VMM_ERROR;
	}
	if (status != 200) {
		const json_t *e = reply ? json_object_get(reply, "error") : NULL;

		log_error("round trip %u: %s", n, json_is_string(e) ? json_string_value(e) :
			  "the VM's API refused the request");
		json_decref(reply);
		return status == 409 ? EXIT_REFUSED : EXIT_VMM_ERROR;
	}
	if (as_json) {
		char *t = json_dumps(reply, JSON_COMPACT);

		printf("%s\n", t ? t : "null");
		free(t);
		fflush(stdout);
	} else {
		debug_print_roundtrip(n, reply);
	}
	json_decref(reply);
	return 0;
}

static int debug_state_roundtrip(int argc, char **argv, const char *dir)
{
	const char *name = NULL;
	unsigned int count = 1;
	bool as_json = false;
	struct vmctl c;
	char err[256];
	int status;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--count") == 0) {
			if (i + 1 >= argc || options_parse_uint("--count", argv[i + 1], 1,
								DEBUG_COUNT_MAX, &count, err,
								sizeof(err))) {
				log_error("%s", i + 1 >= argc ? "--count needs a number" : err);
				return EXIT_USAGE;
			}
			i++;
		} else if (strcmp(argv[i], "--json") == 0) {
			as_json = true;
		} else if (argv[i][0] == '-') {
			log_error("unknown option '%s' (nestvm debug --help)", argv[i]);
			return EXIT_USAGE;
		} else if (!name) {
			name = argv[i];
		} else {
			log_error("unexpected argument '%s' (nestvm debug --help)", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!name) {
		log_error("state-roundtrip needs a VM name: nestvm debug state-roundtrip NAME");
		return EXIT_USAGE;
	}
	status = vmctl_open(&c, dir, name, VMCTL_GET);
	if (status)
		return status;
	if (c.rec.state != VM_STATE_RUNNING && c.rec.state != VM_STATE_PAUSED) {
		log_error("cannot check '%s': it is %s (start it first)", name,
			  vm_state_name(c.rec.state));
		vmctl_close(&c);
		return EXIT_REFUSED;
	}
	for (unsigned int n = 1; n <= count && !status; n++)
		status = debug_roundtrip_once(&c, n, as_json);
	vmctl_close(&c);
	return status;
}

int cmd_debug(int argc, char **argv)
{
	const char *dir = NULL;
	char err[256];

	if (vmctl_take_state_dir(&argc, argv, &dir, err, sizeof(err))) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		puts(debug_usage);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "state-roundtrip") == 0) {
		for (int i = 2; i < argc; i++)
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
				puts(debug_usage);
				return 0;
			}
		return debug_state_roundtrip(argc - 1, argv + 1, dir);
	}
	log_error("unknown debug check '%s' (nestvm debug --help)", argv[1]);
	return EXIT_USAGE;
}
