/* SPDX-License-Identifier: Apache-2.0 */
#include "base/clock.h"

struct timespec hd_deadline_after_ms(clockid_t clock, long ms)
{
        struct timespec t;
        clock_gettime(clock, &t);
        if (ms <= 0)
                return t;
        t.tv_sec += ms / 1000;
        t.tv_nsec += (ms % 1000) * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000L;
        }
        return t;
}
