/* SPDX-License-Identifier: Apache-2.0 */
/* Deadlines for timed waits. */
#pragma once

#include <time.h>

/* The time on CLOCK that lies MS milliseconds from now (now itself when MS <= 0), normalised
 * so tv_nsec < 1e9: the absolute deadline pthread_cond_timedwait() and friends take. */
struct timespec hd_deadline_after_ms(clockid_t clock, long ms);
