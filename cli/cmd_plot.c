/* cmd_plot.c — `mambakit plot OUT`: redraws OUT/curves.svg from OUT/metrics.jsonl (training
 * loss, validation loss and accuracy against the step; lib/plot.c). Useful while a run is
 * going (the trainer draws it only at the end) or after editing metrics by hand.
 */
#include <getopt.h>
#include <stdio.h>
#include "commands.h"
#include "train.h"

static const char usage_text[] =
    "Usage: mambakit plot OUT\n"
    "Draw the loss and accuracy curves of a run: reads OUT/metrics.jsonl (written by\n"
    "`mambakit run` as it trains) and writes OUT/curves.svg, a plain SVG any browser shows.\n"
    "The top panel has the training loss per logged step (line) and the validation loss\n"
    "(dots); a second panel shows the validation accuracy when the run is a classifier.\n"
    "The trainer writes the same picture when it ends; use this during a run.\n\n"
    "  -h, --help   show this help\n\n"
    "Example:\n"
    "  mambakit plot runs/text-lm && xdg-open runs/text-lm/curves.svg\n";

int mk_cmd_plot(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c != 'h')
            return mk_cli_usage_error("plot", "unknown option");
        fputs(usage_text, stdout);
        return 0;
    }
    if (optind + 1 != argc)
        return mk_cli_usage_error("plot", "%s", optind >= argc ? "the run directory OUT is "
                                 "required" : "expected one run directory");
    mk_status st = mk_plot_run(argv[optind]);
    if (st != MK_OK)
        return mk_cli_error("plot", st);
    printf("wrote %s/curves.svg\n", argv[optind]);
    return 0;
}
