/* commands.h — the subcommands of the mambakit program. Each is one file cli/cmd_NAME.c
 * exporting `int mk_cmd_NAME(int argc, char **argv)`: argv[0] is the subcommand's name, the
 * options follow (getopt_long, with --help printing the usage to stdout and returning 0).
 * A command returns the process exit code: 0 success, 1 failure, 2 bad usage.
 */
#ifndef MK_CLI_COMMANDS_H
#define MK_CLI_COMMANDS_H

#include "mambakit.h"

struct mk_command {
    const char *name;
    const char *summary; /* one line for `mambakit --help` */
    int (*run)(int argc, char **argv);
};

/* Prints "mambakit CMD: DETAIL" to stderr (DETAIL = mk_last_error(), or mk_strerror(st) when
 * empty) and returns the exit code for st (1). */
int mk_cli_error(const char *cmd, mk_status st);
/* Prints "mambakit CMD: MESSAGE\nTry 'mambakit CMD --help'." to stderr and returns 2. */
int mk_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Shared by `run` and `check` (cmd_check.c): parses RECIPE [--set K=V]... [--resume] (the
 * latter only when resume is not NULL; --help prints usage) and loads the recipe into *r.
 * Returns -1 when *r is loaded, else the exit code (errors already printed). */
struct mk_recipe;
int mk_cli_recipe_load(const char *cmd, const char *usage, int argc, char **argv, int *resume,
                       struct mk_recipe **r);

int mk_cmd_check(int argc, char **argv);
int mk_cmd_forward(int argc, char **argv);
int mk_cmd_generate(int argc, char **argv);
int mk_cmd_init(int argc, char **argv);
int mk_cmd_plot(int argc, char **argv);
int mk_cmd_plugins(int argc, char **argv);
int mk_cmd_run(int argc, char **argv);
int mk_cmd_spectrogram(int argc, char **argv);
int mk_cmd_tokenizer(int argc, char **argv);

#endif
