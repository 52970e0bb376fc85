/* cmd_plugins.c — `mambakit plugins`: lists the modality plugins in search order (see
 * lib/plugin.h): name, version, where it comes from and its description; files that fail to
 * load are listed with the reason, and a plugin hidden by an earlier one of the same name is
 * marked "(shadowed)".
 *
 *   mambakit plugins            a table
 *   mambakit plugins --paths    also the file of each plugin
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include "commands.h"
#include "plugin.h"

static void usage(void)
{
    printf("Usage: mambakit plugins [--paths]\n"
           "Lists the modality plugins: built-in ones, those in $MAMBAKIT_PLUGIN_PATH\n"
           "(colon-separated directories of NAME.so, searched first) and the installed ones.\n\n"
           "  -p, --paths   show the file each plugin was loaded from\n"
           "  -h, --help    show this help\n");
}

int mk_cmd_plugins(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"paths", no_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int paths = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ph", longopts, NULL)) != -1) {
        if (c == 'p')
            paths = 1;
        else if (c == 'h')
            return usage(), 0;
        else
            return mk_cli_usage_error("plugins", "unknown option");
    }
    if (optind < argc)
        return mk_cli_usage_error("plugins", "unexpected argument '%s'", argv[optind]);
    struct mk_plugin_info *list;
    size_t n;
    mk_status st = mk_plugin_list(&list, &n);
    if (st)
        return mk_cli_error("plugins", st);
    printf("%-10s %-8s %-22s %s\n", "NAME", "VERSION", "ORIGIN", "DESCRIPTION");
    for (size_t i = 0; i < n; i++) {
        const struct mk_plugin_info *p = &list[i];
        const char *origin = mk_plugin_origin_name(p->origin);
        if (p->error[0])
            printf("%-10s %-8s %-22s refused: %s\n", p->name, "-", origin, p->error);
        else
            printf("%-10s %-8s %-22s %s%s\n", p->name, p->version, origin, p->description,
                   p->shadowed ? " (shadowed)" : "");
        if (paths && p->path[0])
            printf("%-10s %-8s %-22s file: %s\n", "", "", "", p->path);
    }
    free(list);
    return 0;
}
