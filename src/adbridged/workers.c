/* Fixed worker pool (workers.h). */
#include "config.h"

#include "workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct item {
    void *p;
    struct item *next;
} item;

struct adb_workers {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    item *head, *tail;
    bool stop;
    adb_work_fn run, drop;
    void *arg;
    unsigned n;
    pthread_t *threads;
};

static void *worker(void *arg)
{
    adb_workers *w = arg;

    for (;;) {
        item *it;
        pthread_mutex_lock(&w->lock);
        while (w->head == NULL && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->stop) {
            pthread_mutex_unlock(&w->lock);
            return NULL;
        }
        it = w->head;
        w->head = it->next;
        if (w->head == NULL)
            w->tail = NULL;
        pthread_mutex_unlock(&w->lock);
        w->run(w->arg, it->p);
        free(it);
    }
}

adb_code adb_workers_new(unsigned n, adb_work_fn run, adb_work_fn drop, void *arg, adb_workers **out,
                         adb_error *err)
{
    adb_workers *w;
    unsigned i;
    int r;

    *out = NULL;
    if (n == 0)
        n = 1;
    if ((w = calloc(1, sizeof *w)) == NULL || (w->threads = calloc(n, sizeof *w->threads)) == NULL) {
        free(w);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->run = run;
    w->drop = drop;
    w->arg = arg;
    for (i = 0; i < n; i++) {
        if ((r = pthread_create(&w->threads[i], NULL, worker, w)) != 0) {
            w->n = i;
            adb_workers_free(w);
            return adb_error_set(err, ADB_E_INTERNAL, "cannot start worker thread %u: %s", i, strerror(r));
        }
    }
    w->n = n;
    *out = w;
    return ADB_OK;
}

void adb_workers_push(adb_workers *w, void *p)
{
    item *it = malloc(sizeof *it);

    if (it == NULL) {
        w->drop(w->arg, p);
        return;
    }
    it->p = p;
    it->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->tail != NULL)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void adb_workers_free(adb_workers *w)
{
    item *it, *next;

    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < w->n; i++)
        pthread_join(w->threads[i], NULL);
    for (it = w->head; it != NULL; it = next) {
        next = it->next;
        w->drop(w->arg, it->p);
        free(it);
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->threads);
    free(w);
}
