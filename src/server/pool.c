/*
 * The handler pool: a few threads that run mounted handlers (the IPFS
 * gateway reads and verifies every block of a CAR, which can take seconds)
 * while their connections are suspended, so a slow handler holds none of
 * the few HTTP threads. Tasks run in arrival order; at most max_in_system
 * are waiting or running, beyond that the server answers 429, as it does
 * for the embedding queue.
 */
#include <string.h>

#include "server/server-impl.h"

static void *pool_thread(void *arg)
{
    srv_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stop)
            pthread_cond_wait(&p->wake, &p->lock);
        srv_task *t = p->head;
        if (!t)
            break;
        p->head = t->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        t->run(t);
        pthread_mutex_lock(&p->lock);
        /* Leave the count before handing the task back: a client that has
         * its answer never finds its own request still counted (429). */
        p->in_system--;
        pthread_mutex_unlock(&p->lock);
        t->done(t); /* t may be freed from here on */
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

ia_status ia__srv_pool_start(srv_pool *p, unsigned n_threads, size_t max_in_system)
{
    memset(p, 0, sizeof *p);
    p->threads = ia__calloc(n_threads, sizeof *p->threads);
    if (!p->threads)
        return ia__error(IA_ERR_NOMEM, "out of memory for the handler threads");
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->max_in_system = max_in_system;
    p->running = true;
    for (; p->n_threads < n_threads; p->n_threads++)
        if (pthread_create(&p->threads[p->n_threads], NULL, pool_thread, p)) {
            ia__srv_pool_stop(p);
            ia__srv_pool_close(p);
            return ia__error(IA_ERR_NOMEM, "cannot start the server's handler threads");
        }
    return IA_OK;
}

bool ia__srv_pool_submit(srv_pool *p, srv_task *t)
{
    pthread_mutex_lock(&p->lock);
    bool ok = !p->stop && p->in_system < p->max_in_system;
    if (ok) {
        t->next = NULL;
        if (p->tail)
            p->tail->next = t;
        else
            p->head = t;
        p->tail = t;
        p->in_system++;
        pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
    return ok;
}

void ia__srv_pool_stop(srv_pool *p)
{
    if (!p->running)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true; /* the threads still run what is queued, then exit */
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    p->running = false;
}

void ia__srv_pool_close(srv_pool *p)
{
    if (!p->threads) /* never started, or closed */
        return;
    ia__free(p->threads);
    p->threads = NULL;
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
}
