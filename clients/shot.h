/*
 * vmgate-shot — shared definitions of the headless client's modes.
 */
#ifndef VG_SHOT_H
#define VG_SHOT_H

#include <stdint.h>

#include "display.h"

/* Exit codes (documented in --help and README). */
#define SHOT_EXIT_OK      0
#define SHOT_EXIT_TIMEOUT 1
#define SHOT_EXIT_USAGE   2
#define SHOT_EXIT_AUTH    3
#define SHOT_EXIT_CONNECT 4
#define SHOT_EXIT_OUTPUT  5

typedef struct shot_options {
    const char *output;
    const char *type_text; /* already unescaped, NULL if none */
    int wait_stable_ms;    /* -1: do not wait */
    int timeout_s;
    int key_delay_ms;
    int64_t deadline_us;
} shot_options;

/** Run the libvirt mode. Returns an exit code. */
int shot_run_libvirt(const char *uri, const char *domain, const shot_options *opt);

#endif /* VG_SHOT_H */
