/*
 * clock.h - the monotonic clock, in the units the callers count in, and a
 * thread's CPU time (what a one-thread run costs on a shared machine).
 */
#ifndef FK_BASE_CLOCK_H
#define FK_BASE_CLOCK_H

double fk_now_s(void);
double fk_now_ms(void);
double fk_thread_cpu_ms(void);

#endif /* FK_BASE_CLOCK_H */
