/* tools/cli.c: see cli.h */
#include "tools/cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static void
s_usage(FILE *out, const char *prog, const char *what, const cli_command_t *table, int n)
{
    fprintf(out, "usage: %s COMMAND [OPTIONS]   (%s)\n\ncommands:\n", prog, what);
    for (int i = 0; i < n; i++)
        fprintf(out, "  %-12s %s\n", table[i].name, table[i].help);
    fprintf(out, "\n'%s COMMAND --help' describes each command's options.\n", prog);
}

int
cli_dispatch(const char *prog, const char *what, const cli_command_t *table, int n,
             int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        s_usage(argc < 2 ? stderr : stdout, prog, what, table, n);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("%s %s\n", prog, PACKAGE_VERSION);
        return 0;
    }
    for (int i = 0; i < n; i++)
        if (strcmp(argv[1], table[i].name) == 0)
            return table[i].main(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
    s_usage(stderr, prog, what, table, n);
    return 2;
}

int
cli_no_operands(const char *prog, int argc, char **argv)
{
    if (optind >= argc)
        return 0;
    fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, argv[optind]);
    return 2;
}
