/* SPDX-License-Identifier: Apache-2.0 */
/* Command-line flags from a table: each flag names where its value goes in the caller's options
 * struct, its kind and, for numbers, the bound a value must exceed. Long options ("--name
 * VALUE" or "--name=VALUE"), "-v LEVEL" for the flag named "v", "-h" for help. Booleans take
 * "--name", "--name=true" or "--name=false". The programs share it so that every flag that
 * means the same is spelled and checked the same. */
#pragma once

#include <stddef.h>
#include <stdio.h>

enum hd_flag_kind {
        HD_FLAG_STRING,     /* const char * (borrowed from argv) */
        HD_FLAG_INT,        /* int, > ABOVE and <= 1e9 */
        HD_FLAG_DOUBLE,     /* double, > ABOVE */
        HD_FLAG_BOOL,       /* bool */
        HD_FLAG_LOG_FORMAT, /* enum hd_log_format */
        HD_FLAG_VERSION,    /* prints "<program> <version>" */
        HD_FLAG_HELP,       /* prints the usage */
};

struct hd_flag {
        const char *name;
        enum hd_flag_kind kind;
        size_t offset; /* into the caller's struct */
        double above;
        const char *expect; /* "expected ..." for a bad value */
};

/* Parse ARGV into the struct at BASE following FLAGS (N entries). USAGE(f) prints the help.
 * Usage errors are logged (hd_log_error, "<PROGRAM>: <what>; see --help" with the flag and
 * value as keys) in the format a HD_FLAG_LOG_FORMAT flag on the command line asks for, so they
 * read like every other error line of the daemon: the function sets up logging (verbosity 0)
 * with that format before parsing. Returns 1 to go on, or the exit status to return from
 * main(): 0 after --help/--version, 2 for a bad flag or value. */
int hd_flags_parse(int argc, char **argv, const struct hd_flag *flags, size_t n, void *base,
                   const char *program, void (*usage)(FILE *f));
