/*
 * A slower disk for the HTTP bench's create figure: loaded with LD_PRELOAD into the
 * server, it makes every fsync and fdatasync wait SLOW_FSYNC_US microseconds (default
 * 1500, what one machine of our kind took) before doing the real one. The bench builds
 * it with the machine's C compiler; see benches/http.rs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static void wait_like_a_slow_disk(void) {
    const char *env = getenv("SLOW_FSYNC_US");
    long us = env ? atol(env) : 1500;
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&t, NULL);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    wait_like_a_slow_disk();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    wait_like_a_slow_disk();
    return real(fd);
}
