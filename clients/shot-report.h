/*
 * vmgate-shot — results for CI servers: JUnit XML (one test case per step)
 * and JSON (one object per step).
 */
#ifndef VG_SHOT_REPORT_H
#define VG_SHOT_REPORT_H

#include <glib.h>

#include "shot-run.h"
#include "shot-script.h"

/**
 * Write the JUnit XML report of a run (atomically).
 * @param results     shot_result * in order
 * @param exit_code   the run's exit code
 * @return 0, or -EIO with @why set.
 */
int shot_report_junit(const char *path, const shot_script *script, GPtrArray *results,
                      double seconds, char *why, size_t why_len);

/** Write the JSON report of a run (atomically). @return 0, or -EIO with @why set. */
int shot_report_json(const char *path, const shot_script *script, GPtrArray *results, int exit_code,
                     double seconds, char *why, size_t why_len);

#endif /* VG_SHOT_REPORT_H */
