/* nestvm run: one VM in the foreground. */
#include "cli/commands.h"

#include <stdio.h>
#include <stdlib.h>

#include "cli/options.h"
#include "machine/runner.h"
#include "vmm/log.h"

int cmd_run(int argc, char **argv)
{
	struct run_options opt;
	struct runner *r;
	char err[1024] = "";
	int status;

	if (options_parse_run(argc, argv, &opt, err, sizeof(err))) {
		log_error("%s", err);
		options_free(&opt);
		return EXIT_USAGE;
	}
	if (opt.help) {
		fputs(options_run_usage(), stdout);
		options_free(&opt);
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		log_error("out of memory");
		options_free(&opt);
		return EXIT_VMM_ERROR;
	}
	runner_set_verbosity(opt.verbosity);
	{
		struct runner_hooks h = { .restore_dir = opt.restore_dir,
					  .restore_eager = opt.restore_eager };

		status = runner_run(r, &opt.cfg, opt.restore_dir ? &h : NULL, err, sizeof(err));
	}
	if (err[0])
		log_error("%s", err);
	runner_free(r);
	free(r);
	options_free(&opt);
	return status;
}
