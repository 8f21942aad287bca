/*
 * The kernel pool (src/pool.c) driven directly, for kernels/pool.test.ts.
 *
 * `lanes`: a job of 2K tasks on two threads whose first K tasks (the caller's lane) each wait until
 * task K, the first of the worker's lane, has started. Only a worker that takes its own lane first
 * can start it while the caller is held in its lane, so the job finishes without any wait running
 * out, and task K ran on thread 1. Prints "lanes ok" or what went wrong.
 *
 * `stress`: CALLERS threads each post 20000 jobs of 1..70 tasks of uneven length to a pool of
 * THREADS, each job on 1..3 of them (the CPU budget's per-caller active count), on however few cores
 * the machine has; every task must run exactly once. Prints "stress ok" or the first task that did not.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/tg.h"

#define K 8

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    atomic_int started_k;
    atomic_int timeouts;
    int thread_of[2 * K];
} lanes_job;

static void lanes_task(void *ctx, int64_t task, int thread) {
    lanes_job *job = ctx;
    job->thread_of[task] = thread;
    if (task == K) atomic_store(&job->started_k, 1);
    if (task >= K) return;
    const double give_up = seconds() + 2.0;
    while (!atomic_load(&job->started_k))
        if (seconds() > give_up) {
            atomic_fetch_add(&job->timeouts, 1);
            return;
        }
}

static int lanes(void) {
    tg_pool_set_threads(2);
    for (int round = 0; round < 5; round++) {
        lanes_job job;
        memset(&job, 0, sizeof job);
        tg_pool_run(2 * K, lanes_task, &job);
        if (job.timeouts || job.thread_of[K] != 1) {
            printf("round %d: %d waits ran out, task %d ran on thread %d\n", round, atomic_load(&job.timeouts), K,
                   job.thread_of[K]);
            return 1;
        }
    }
    printf("lanes ok\n");
    return 0;
}

typedef struct {
    atomic_int hits[80];
    unsigned seed;
} stress_job;

static void stress_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    stress_job *job = ctx;
    atomic_fetch_add(&job->hits[task], 1);
    volatile unsigned sink = 0;
    for (unsigned i = 0; i < ((unsigned)task * 2654435761u + job->seed) % 300; i++) sink += i;
}

static atomic_int failed;

static void *stress_caller(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int j = 0; j < 20000 && !atomic_load(&failed); j++) {
        seed = seed * 1103515245u + 12345u;
        const int64_t n = 1 + (seed >> 8) % 70;
        tg_pool_set_active(1 + (int)((seed >> 20) % 3));
        stress_job job;
        memset(&job, 0, sizeof job);
        job.seed = seed;
        tg_pool_run(n, stress_task, &job);
        for (int64_t t = 0; t < n; t++)
            if (atomic_load(&job.hits[t]) != 1) {
                printf("job %d: task %lld of %lld ran %d times\n", j, (long long)t, (long long)n, atomic_load(&job.hits[t]));
                atomic_store(&failed, 1);
                break;
            }
    }
    return NULL;
}

static int stress(int threads, int callers) {
    tg_pool_set_threads(threads);
    pthread_t th[8];
    for (int i = 0; i < callers; i++) pthread_create(&th[i], NULL, stress_caller, (void *)(uintptr_t)(i * 77 + 1));
    for (int i = 0; i < callers; i++) pthread_join(th[i], NULL);
    if (atomic_load(&failed)) return 1;
    printf("stress ok\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "lanes") == 0) return lanes();
    if (argc >= 4 && strcmp(argv[1], "stress") == 0) {
        const int threads = atoi(argv[2]), callers = atoi(argv[3]);
        if (threads >= 1 && callers >= 1 && callers <= 8) return stress(threads, callers);
    }
    fprintf(stderr, "usage: pool-stress lanes | stress THREADS CALLERS(1..8)\n");
    return 2;
}
