/* dir_parallel (see dir_internal.h): independent directory reads at once,
 * each on its own pool connection, so a request costs the slowest read's
 * round trips instead of their sum. */
#include "config.h"

#include "dir_internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

void dir_parallel(void *jobs, size_t n, size_t size, void *(*run)(void *))
{
    pthread_t th[DIR_PARALLEL_MAX];
    bool started[DIR_PARALLEL_MAX] = { false };
    char *job = jobs;

    while (n > 0) {
        size_t k = n < DIR_PARALLEL_MAX ? n : DIR_PARALLEL_MAX;
        /* The last job (and one that cannot get a thread) runs on this thread. */
        for (size_t i = 0; i < k; i++)
            if (!(started[i] = i + 1 < k && pthread_create(&th[i], NULL, run, job + i * size) == 0))
                run(job + i * size);
        for (size_t i = 0; i < k; i++)
            if (started[i])
                pthread_join(th[i], NULL);
        job += k * size;
        n -= k;
    }
}
