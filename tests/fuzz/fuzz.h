/*
 * vmgate — fuzz targets: each file defines LLVMFuzzerTestOneInput for one
 * parser of untrusted input. Built with clang's libFuzzer by tests/fuzz/run
 * (VMGATE_FUZZ=ON), and in every build with driver.c, which runs the kept
 * corpus and regression inputs once each as a unit test.
 */
#ifndef VG_FUZZ_H
#define VG_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** Optional, called once before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#endif
