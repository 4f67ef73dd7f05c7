/* tools/cli.h: the subcommands of shop-train and shop-eval.
 *
 * Each subcommand parses its options in tools/ (for example tools/vision.c)
 * and calls its area's library function; the signature is below: argv[0] is
 * the subcommand's name, the return value is the process exit status. */
#ifndef SHOP_TOOLS_CLI_H
#define SHOP_TOOLS_CLI_H

typedef int (*cli_main_fn)(int argc, char **argv);

typedef struct {
    const char *name;   /* subcommand, e.g. "vision" */
    cli_main_fn main;   /* its entry point */
    const char *help;   /* one line for the usage text */
} cli_command_t;

/* Runs the subcommand named by argv[1] from table (n entries); prints usage
 * for --help, no argument or an unknown name. Returns an exit status. */
int cli_dispatch(const char *prog, const char *what, const cli_command_t *table, int n,
                 int argc, char **argv);

/* After a subcommand's options (getopt_long): 0 when no argument is left
 * over, else "prog: unexpected argument ..." on stderr and 2 (a value given
 * as "--opt value" to an option whose value is optional, "--opt=value",
 * leaves it over). */
int cli_no_operands(const char *prog, int argc, char **argv);

/* shop-train subcommands (declared here, defined in tools/) */
int vision_train_main(int argc, char **argv);
int audio_train_main(int argc, char **argv);
int audio_corpus_main(int argc, char **argv);
int audio_phones_main(int argc, char **argv);
int recommend_train_main(int argc, char **argv);
int demo_store_main(int argc, char **argv);

/* shop-eval subcommands */
int vision_eval_main(int argc, char **argv);
int audio_eval_main(int argc, char **argv);
int audio_phones_eval_main(int argc, char **argv);
int recommend_eval_main(int argc, char **argv);

#endif
