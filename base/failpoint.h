/* SPDX-License-Identifier: Apache-2.0 */
/* Failpoints: named places where a test can make the process die (or pause) on purpose, to
 * check what a crash at exactly that point leaves behind.
 *
 * Compiled in always; a no-op (one relaxed load) unless HOSTDEV_FAILPOINTS is set when the
 * first failpoint is reached. Syntax: entries separated by ',':
 *
 *     POINT[:FILEGLOB]=ACTION[@N][%P]
 *
 *   POINT     the name passed to hd_failpoint() ("prepare-after-spec", "fileio-before-rename")
 *   FILEGLOB  for points that name a file (hd_failpoint_file): fire only when the file name
 *             matches this fnmatch(3) pattern ("fileio-before-rename:checkpoint.json=kill")
 *   ACTION    kill (raise SIGKILL) or sleep(MS) (pause the calling thread MS milliseconds)
 *   @N        only on the Nth matching hit (counted from 1 per entry); default every hit
 *   %P        with probability P percent (1..100) per hit; HOSTDEV_FAILPOINTS_SEED seeds it
 *
 * A firing is logged at -v 4 before the action. The points that exist are listed in
 * docs/plugin.md ("Failpoints"). */
#pragma once

struct hd_error;

/* Replace the process's failpoint table with the one SPEC describes (NULL or "" = none).
 * Call before threads start; hd_failpoint() calls it with $HOSTDEV_FAILPOINTS on first use if
 * nobody did. Returns 0, or -EINVAL with a message naming the bad entry (the table is then
 * empty). */
int hd_failpoints_setup(const char *spec, struct hd_error *reterr);

/* Reach failpoint NAME: act if an entry names it, otherwise return at once. Thread-safe. */
void hd_failpoint(const char *name);

/* Same for a point about file FILE (a plain name): entries with a FILEGLOB must match it. */
void hd_failpoint_file(const char *name, const char *file);
