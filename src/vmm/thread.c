/* Threads of the VMM (see thread.h). */
#include "vmm/thread.h"

int vmm_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t a;
	int r = pthread_attr_init(&a);

	if (r)
		return r;
	r = pthread_attr_setstacksize(&a, VMM_THREAD_STACK);
	if (!r)
		r = pthread_create(t, &a, fn, arg);
	pthread_attr_destroy(&a);
	return r;
}
