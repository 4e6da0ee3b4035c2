/*
 * vmgate-shot — text on the screen, read with Tesseract.
 *
 * Consoles draw small bitmap fonts, often light on dark: the area is made
 * grey, dark-on-light and three times larger before Tesseract reads it.
 *
 * Threading: an OCR engine is used by one thread at a time. Tesseract's own
 * worker threads (OpenMP) are limited to one unless OMP_THREAD_LIMIT says
 * otherwise: a CI runner's cores are the guest's.
 */
#ifndef VG_SHOT_OCR_H
#define VG_SHOT_OCR_H

#include <stdbool.h>
#include <stddef.h>

#include "shot-image.h"

typedef struct shot_ocr shot_ocr;

/**
 * Start Tesseract with a language's trained data (Debian's
 * tesseract-ocr-LANG, e.g. "eng").
 * @return 0, or -ENOENT with @why set when the data is missing.
 */
int shot_ocr_new(const char *lang, shot_ocr **out, char *why, size_t why_len);

void shot_ocr_free(shot_ocr *o);

/**
 * Read the text in @area of @img (NULL: the whole image).
 * @param text  receives g_malloc'ed UTF-8
 * @return 0, -EINVAL for an area outside the image, -EIO when Tesseract
 *         fails, -ENOMEM.
 */
int shot_ocr_read(shot_ocr *o, const shot_image *img, const shot_rect *area, char **text);

/**
 * Whether @wanted occurs in @read, comparing runs of white space as one
 * space (OCR breaks lines its own way) and the characters console fonts
 * draw alike as equal: u and v, 0 and O, 1, l, I and |, curly and straight
 * quotes. Case matters otherwise.
 */
bool shot_ocr_contains(const char *read, const char *wanted);

#endif /* VG_SHOT_OCR_H */
