/* Threads of the VMM (vCPUs, I/O loop, consoles, slirp). */
#ifndef NESTVM_VMM_THREAD_H
#define NESTVM_VMM_THREAD_H

#include <pthread.h>
#include <time.h>

/* 1 MiB stacks, not glibc's default 8 MiB: a mapping smaller than 2 MiB
 * can hold no transparent huge page, so touching a thread's stack costs a
 * few 4 KiB pages instead of a whole 2 MiB page of resident memory (the
 * bench measured exactly that on the vCPU thread). The deepest path, a
 * device emulated on a vCPU thread, uses a few KiB. */
#define VMM_THREAD_STACK (1024 * 1024)

/* pthread_create with that stack size; returns its error number. */
int vmm_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);

/* CLOCK_MONOTONIC now plus ms: the deadline for pthread_cond_timedwait on
 * a condition variable set to that clock. */
struct timespec vmm_deadline_ms(unsigned int ms);

#endif
