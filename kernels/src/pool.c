/*
 * A persistent thread pool: the process's one registry of kernel threads.
 *
 * Matmuls at decode time take tens of microseconds, so waking threads through the kernel for
 * each call would cost as much as the work. Workers therefore spin on a generation counter for
 * a short while after each job and only then sleep on a condition variable. The caller runs
 * tasks too, so `threads` counts it. Jobs are serialized: a second caller (another worker
 * thread, or N-API async work on libuv's pool) waits for the running job to finish.
 *
 * A job that needs no other thread (one task, or a pool of one thread) runs on its caller without
 * the job lock, so several engine threads whose pools are one thread each (a variant's instances, or
 * engines sharing the cores one each) compute at once instead of queueing for the lock. Scratch for
 * the caller's role (thread index 0) is therefore per calling thread; workers' scratch is the pool's.
 *
 * The caller waits for the job's tasks, never for the workers: on a busy machine a worker may
 * not get a core for a whole scheduler timeslice (~4 ms), and a 0.1 ms matmul must not wait for
 * it. A job's tasks are split into one lane per thread, each claimed through a counter that carries
 * the job's id, so a worker that wakes late can only claim tasks of the job whose fields it read, or
 * none. A thread takes its own lane first, so on every call the same thread runs the same share
 * (a matmul's rows, an attention call's sequences) and finds it in its own core's cache; nano's
 * step went ~10% faster at batch 1 and 8 on a 2-core Xeon, where the one shared counter handed
 * the shares out anew each call. Then it takes what is left of the others' lanes.
 *
 * A job may use fewer threads than the pool has (`tg_pool_set_active`, set by each calling thread for
 * its own jobs before each forward pass by the CPU budget, which hands this pool whatever cores the other engines are not using): only
 * threads below the job's count claim its tasks, and the others sleep without spinning and are not
 * woken for it (each thread sleeps on a condition of its own), so a smaller job leaves the rest of
 * the cores to the other engine at the cost of no thread creation.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tg.h"

#define TG_MAX_THREADS 256
#define TG_SPIN_NS 2000000 /* 2 ms of spinning before a worker sleeps */

typedef struct {
    void *ptr;
    size_t size;
} scratch_buf;

static struct {
    pthread_mutex_t job_lock; /* one job at a time */
    pthread_mutex_t wake_lock;
    pthread_cond_t wake[TG_MAX_THREADS]; /* one per thread, so a job wakes only the threads it uses */
    int asleep[TG_MAX_THREADS];          /* under wake_lock */
    int threads; /* including the caller; 0 = not started */
    atomic_int running_threads; /* `threads` once started, readable without the job lock */
    atomic_int jobs_now, jobs_most; /* jobs in progress (on their callers or the pool), and the most at once */
    pthread_t workers[TG_MAX_THREADS];
    atomic_uint generation;
    unsigned start_generation; /* generation when the workers were created */
    atomic_int stop;
    atomic_int sleeping;
    atomic_uint park_generation; /* workers that have seen this generation stop spinning */
    /* The current job. Its tasks are split into one lane per thread (thread t's share first, so the same
     * thread runs the same rows of a matmul, or the same sequences of an attention call, on every call,
     * and they stay in its core's cache); a thread whose lane is spent takes from the others' lanes, so
     * a late thread delays nothing. Each lane's claim word holds (job id << 32 | next task). The
     * fields are written after `fields_id` is set to the new job's id and before any claim word:
     * a reader that read a field and then finds `fields_id` still its claim word's id read that job's. */
    atomic_uint fields_id;
    _Atomic(tg_task_fn) fn;
    _Atomic(void *) ctx;
    atomic_int job_threads; /* the job's thread count: threads at or above it claim none of its tasks */
    atomic_llong done;
    struct {
        _Alignas(64) atomic_ullong claim;
        atomic_llong end; /* one past the lane's last task */
    } lanes[TG_MAX_THREADS];
    uint32_t job_id;
    scratch_buf scratch[TG_MAX_THREADS];
    /* tasks each thread has run since start; own cache line each, added once per job joined */
    struct {
        _Alignas(64) atomic_llong n;
    } tasks_run[TG_MAX_THREADS];
} pool = {
    .job_lock = PTHREAD_MUTEX_INITIALIZER,
    .wake_lock = PTHREAD_MUTEX_INITIALIZER,
};

static pthread_once_t conds_once = PTHREAD_ONCE_INIT;
static void init_conds(void) {
    for (int i = 0; i < TG_MAX_THREADS; i++) pthread_cond_init(&pool.wake[i], NULL);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The job fields that go with claim word `c` of `lane`; 0 if they may already be a later job's. */
static int read_fields(unsigned long long c, int lane, tg_task_fn *fn, void **ctx, int *threads, int64_t *end) {
    *fn = atomic_load_explicit(&pool.fn, memory_order_relaxed);
    *ctx = atomic_load_explicit(&pool.ctx, memory_order_relaxed);
    *threads = atomic_load_explicit(&pool.job_threads, memory_order_relaxed);
    *end = atomic_load_explicit(&pool.lanes[lane].end, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&pool.fields_id, memory_order_relaxed) == (unsigned)(c >> 32);
}

/* Claims and runs tasks of `lane` until it is spent; returns the number run, or -1 when `thread` has
 * no part in the job whose claim word it read (it stops looking at lanes). */
static long long run_lane(int thread, int lane) {
    long long ran = 0;
    unsigned long long c = atomic_load_explicit(&pool.lanes[lane].claim, memory_order_acquire);
    for (;;) {
        tg_task_fn fn;
        void *ctx;
        int threads;
        int64_t end;
        /* a claim word whose fields have moved on belongs to a finished job: nothing to run there */
        if (!read_fields(c, lane, &fn, &ctx, &threads, &end)) return ran;
        if (thread >= threads) return ran ? ran : -1;
        const int64_t task = (int64_t)(c & 0xffffffffULL);
        if (task >= end) return ran;
        /* succeeds only while `c` is current: the task is unclaimed, so its job has not finished and
         * the fields read above are that job's */
        if (!atomic_compare_exchange_weak_explicit(&pool.lanes[lane].claim, &c, c + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        fn(ctx, task, thread);
        ran++;
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
        c = atomic_load_explicit(&pool.lanes[lane].claim, memory_order_acquire);
    }
}

/* This thread's own lane, then the others' in turn. */
static void run_tasks(int thread) {
    const int threads = atomic_load_explicit(&pool.job_threads, memory_order_acquire);
    if (thread >= threads) return;
    long long ran = 0;
    for (int k = 0; k < threads; k++) {
        const long long n = run_lane(thread, (thread + k) % threads);
        if (n < 0) break;
        ran += n;
    }
    if (ran) atomic_fetch_add_explicit(&pool.tasks_run[thread].n, ran, memory_order_relaxed);
}

/* The latest job leaves `thread` out (read after its generation: that job's count or a later one's). */
static int left_out(int thread) { return thread >= atomic_load_explicit(&pool.job_threads, memory_order_acquire); }

/* Waits for a job after `seen` that uses this thread. A thread the latest job leaves out does not
 * spin: its core belongs to another engine until a job includes it again. */
static unsigned wait_for_job(int thread, unsigned seen) {
    int64_t spin_until = now_ns() + TG_SPIN_NS;
    for (int i = 0;; i++) {
        unsigned g = atomic_load_explicit(&pool.generation, memory_order_acquire);
        if (atomic_load(&pool.stop)) return g;
        if (g != seen) {
            if (!left_out(thread)) return g;
            seen = g;
            break;
        }
        __builtin_ia32_pause();
        if ((i & 255) == 255 && (now_ns() > spin_until || atomic_load(&pool.park_generation) == seen)) break;
    }
    pthread_mutex_lock(&pool.wake_lock);
    pool.asleep[thread] = 1;
    atomic_fetch_add(&pool.sleeping, 1);
    unsigned g;
    while (((g = atomic_load(&pool.generation)) == seen || left_out(thread)) && !atomic_load(&pool.stop))
        pthread_cond_wait(&pool.wake[thread], &pool.wake_lock);
    atomic_fetch_sub(&pool.sleeping, 1);
    pool.asleep[thread] = 0;
    pthread_mutex_unlock(&pool.wake_lock);
    return g;
}

static void *worker_main(void *arg) {
    int thread = (int)(intptr_t)arg;
    /* not the live counter: a job may already have been posted before this thread ran */
    unsigned seen = pool.start_generation;
    for (;;) {
        seen = wait_for_job(thread, seen);
        if (atomic_load(&pool.stop)) return NULL;
        run_tasks(thread);
    }
}

/* Physical cores available to this process: distinct (package, core) pairs in the affinity
 * mask, so SMT siblings do not count twice. Falls back to the number of allowed CPUs. */
int tg_physical_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return (int)sysconf(_SC_NPROCESSORS_ONLN);
    int allowed = CPU_COUNT(&set), distinct = 0;
    long seen[TG_MAX_THREADS];
    for (int cpu = 0; cpu < CPU_SETSIZE && distinct < TG_MAX_THREADS; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        char path[128];
        long core = -1, pkg = -1;
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &core) != 1) core = -1;
            fclose(f);
        }
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &pkg) != 1) pkg = -1;
            fclose(f);
        }
        if (core < 0) return allowed;
        long key = pkg * 100000 + core;
        int dup = 0;
        for (int i = 0; i < distinct; i++) dup |= seen[i] == key;
        if (!dup) seen[distinct++] = key;
    }
    return distinct > 0 ? distinct : allowed;
}

static int default_threads(void) {
    const char *env = getenv("TRITGATE_THREADS");
    if (env && *env) {
        int n = atoi(env);
        if (n >= 1) return n < TG_MAX_THREADS ? n : TG_MAX_THREADS;
    }
    return tg_physical_cores();
}

static void stop_workers(void) {
    atomic_store(&pool.running_threads, 0);
    atomic_store(&pool.stop, 1);
    pthread_mutex_lock(&pool.wake_lock);
    for (int i = 1; i < pool.threads; i++) pthread_cond_signal(&pool.wake[i]);
    pthread_mutex_unlock(&pool.wake_lock);
    for (int i = 1; i < pool.threads; i++) pthread_join(pool.workers[i], NULL);
    atomic_store(&pool.stop, 0);
    pool.threads = 0;
}

static int start_workers(int n) {
    pthread_once(&conds_once, init_conds);
    pool.threads = 1;
    pool.start_generation = atomic_load(&pool.generation);
    for (int i = 1; i < n; i++) {
        if (pthread_create(&pool.workers[i], NULL, worker_main, (void *)(intptr_t)i) != 0) break;
        pool.threads = i + 1;
    }
    atomic_store(&pool.running_threads, pool.threads);
    return pool.threads;
}

int tg_pool_set_threads(int n) {
    if (n < 1) n = 1;
    if (n > TG_MAX_THREADS) n = TG_MAX_THREADS;
    pthread_mutex_lock(&pool.job_lock);
    if (pool.threads != n) {
        if (pool.threads > 0) stop_workers();
        start_workers(n);
    }
    int got = pool.threads;
    pthread_mutex_unlock(&pool.job_lock);
    return got;
}

void tg_pool_park(void) { atomic_store(&pool.park_generation, atomic_load(&pool.generation)); }

long long tg_pool_thread_tasks(int thread) {
    if (thread < 0 || thread >= TG_MAX_THREADS) return 0;
    return atomic_load_explicit(&pool.tasks_run[thread].n, memory_order_relaxed);
}

/* Called with job_lock held. */
static void ensure_started(void) {
    if (pool.threads == 0) start_workers(default_threads());
}

/* The pool's size without taking the job lock once it has started (starting it the first time). */
static int started_threads(void) {
    int n = atomic_load(&pool.running_threads);
    if (n > 0) return n;
    pthread_mutex_lock(&pool.job_lock);
    ensure_started();
    n = pool.threads;
    pthread_mutex_unlock(&pool.job_lock);
    return n;
}

static void job_begins(void) {
    int now = atomic_fetch_add(&pool.jobs_now, 1) + 1;
    for (int most = atomic_load(&pool.jobs_most); now > most;)
        if (atomic_compare_exchange_weak(&pool.jobs_most, &most, now)) break;
}

static void job_ends(void) { atomic_fetch_sub(&pool.jobs_now, 1); }

int tg_pool_take_most_jobs(void) { return atomic_exchange(&pool.jobs_most, atomic_load(&pool.jobs_now)); }

int tg_pool_threads(void) { return started_threads(); }

/* Threads the calling thread's next jobs use (tg_pool_set_active); 0: all. Per caller: each engine
 * thread (a variant's worker, or one of its instances) is sized by its own seat in the CPU budget. */
static _Thread_local int caller_active;

int tg_pool_set_active(int n) {
    if (n < 1) n = 1;
    caller_active = n;
    int threads = started_threads();
    return n > threads ? threads : n;
}

/* The calling thread's jobs on a pool of `threads`: its active count, or all of them. */
static int threads_for_caller(int threads) { return caller_active < 1 || caller_active > threads ? threads : caller_active; }

/* A job no other thread takes part in, run on its caller. */
static void run_on_caller(int64_t ntasks, tg_task_fn fn, void *ctx) {
    job_begins();
    for (int64_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
    atomic_fetch_add_explicit(&pool.tasks_run[0].n, ntasks, memory_order_relaxed);
    job_ends();
}

void tg_pool_run(int64_t ntasks, tg_task_fn fn, void *ctx) {
    if (ntasks <= 0) return;
    if (ntasks == 1 || threads_for_caller(started_threads()) == 1) {
        /* no lock, so other callers' jobs run meanwhile */
        run_on_caller(ntasks, fn, ctx);
        return;
    }
    pthread_mutex_lock(&pool.job_lock);
    ensure_started();
    /* the pool may have been resized since it was read without the lock */
    const int use = threads_for_caller(pool.threads);
    if (use == 1) {
        run_on_caller(ntasks, fn, ctx);
        pthread_mutex_unlock(&pool.job_lock);
        return;
    }
    job_begins();
    pool.job_id++;
    atomic_store_explicit(&pool.fields_id, pool.job_id, memory_order_relaxed);
    atomic_thread_fence(memory_order_release); /* fields_id changes before any field does */
    atomic_store_explicit(&pool.job_threads, use, memory_order_relaxed);
    atomic_store_explicit(&pool.fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool.ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    for (int t = 0; t < use; t++) atomic_store_explicit(&pool.lanes[t].end, (ntasks * (t + 1)) / use, memory_order_relaxed);
    for (int t = 0; t < use; t++)
        atomic_store_explicit(&pool.lanes[t].claim, (unsigned long long)pool.job_id << 32 | (unsigned long long)((ntasks * t) / use),
                              memory_order_release);
    atomic_fetch_add(&pool.generation, 1); /* seq_cst: ordered before the load of `sleeping` */
    if (atomic_load(&pool.sleeping) > 0) {
        pthread_mutex_lock(&pool.wake_lock);
        for (int i = 1; i < use; i++)
            if (pool.asleep[i]) pthread_cond_signal(&pool.wake[i]);
        pthread_mutex_unlock(&pool.wake_lock);
    }
    run_tasks(0);
    /* only tasks a worker has claimed can still be running */
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < ntasks) __builtin_ia32_pause();
    job_ends();
    pthread_mutex_unlock(&pool.job_lock);
}

/* The caller's scratch: one per calling thread (a JS worker thread, or libuv's for async calls).
 * `tg_pool_release_caller_scratch` frees it; the addon calls it when a worker's environment ends. */
static _Thread_local scratch_buf caller_scratch;

static void *grow(scratch_buf *s, size_t bytes) {
    if (s->size < bytes) {
        free(s->ptr);
        size_t size = (bytes + 4095) & ~(size_t)4095;
        s->ptr = aligned_alloc(64, size);
        s->size = s->ptr ? size : 0;
    }
    return s->ptr;
}

void *tg_pool_scratch(int thread, size_t bytes) {
    return grow(thread == 0 ? &caller_scratch : &pool.scratch[thread], bytes);
}

void tg_pool_release_caller_scratch(void) {
    free(caller_scratch.ptr);
    caller_scratch.ptr = NULL;
    caller_scratch.size = 0;
}
