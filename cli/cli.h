/* cli.h: private header of snnctl: one cmd_<name>() per subcommand, plus
 * the flag helpers they share. Each command parses its own argv (argv[0] is
 * the subcommand name) and returns the process exit status. */
#ifndef SNNCTL_CLI_H
#define SNNCTL_CLI_H

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_conform(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* Print "snnctl: " + message to stderr. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
