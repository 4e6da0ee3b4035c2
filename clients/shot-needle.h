/*
 * vmgate-shot — needles: a reference screen (PNG) and, in a JSON file beside
 * it, the areas of it that must be found on the live screen, in the format
 * of openQA's needles:
 *
 *   {"area": [{"xpos": 10, "ypos": 20, "width": 300, "height": 40,
 *              "type": "match", "match": 96, "margin": 20,
 *              "click_point": {"xpos": 150, "ypos": 20}}],
 *    "tags": ["login-prompt"], "properties": []}
 *
 * "type" is "match" (default) or "exclude" (pixels not compared), "match"
 * the similarity in percent an area needs (default 96), "margin" how far in
 * pixels an area may have moved (default 20, at most 300), "click_point"
 * where click-needle clicks, relative to the area (default its centre).
 * Without a JSON file the whole PNG is one area.
 *
 * Similarity of an area at a position: the share of its pixels whose every
 * channel is within SHOT_NEEDLE_TOLERANCE of the needle's. Each area is
 * searched on its own within its margin; the needle matches when every
 * "match" area reaches its threshold somewhere.
 *
 * Threading: a needle is read-only once loaded; matching allocates nothing
 * shared, so threads may match one needle at once.
 */
#ifndef VG_SHOT_NEEDLE_H
#define VG_SHOT_NEEDLE_H

#include <stdbool.h>
#include <stddef.h>

#include "shot-image.h"

#define SHOT_NEEDLE_TOLERANCE      24
#define SHOT_NEEDLE_DEFAULT_MATCH  96.0
#define SHOT_NEEDLE_DEFAULT_MARGIN 20
#define SHOT_NEEDLE_MAX_MARGIN     300
#define SHOT_NEEDLE_MAX_AREAS      64

typedef enum shot_area_type {
    SHOT_AREA_MATCH,
    SHOT_AREA_EXCLUDE,
} shot_area_type;

typedef struct shot_needle_area {
    shot_rect rect;
    shot_area_type type;
    double match; /**< percent, (0, 100] */
    int margin;   /**< pixels */
    int click_x;  /**< relative to the area */
    int click_y;
} shot_needle_area;

typedef struct shot_needle {
    char *name; /**< the file name without directory and extension */
    char *png_path;
    char *json_path; /**< NULL when there is none */
    shot_image image;
    shot_needle_area *areas;
    size_t n_areas;
    char **tags; /**< NULL-terminated */
} shot_needle;

/** The outcome of matching one needle against one screen. */
typedef struct shot_match {
    bool matched;
    double similarity; /**< the worst "match" area's best similarity, percent */
    size_t worst;      /**< that area's index */
    size_t first;      /**< the first "match" area's index */
    int click_x;       /**< screen position of the first match area's click point */
    int click_y;
    int *dx, *dy; /**< per area: the shift of its best position */
    double *area_similarity;
    size_t n_areas;
} shot_match;

/**
 * Load a needle. @ref is a path with or without ".png" or ".json"; the
 * other file is found beside it.
 * @param why  receives a sentence for people on failure (file and reason)
 * @return 0 or a negative errno.
 */
int shot_needle_load(const char *ref, shot_needle **out, char *why, size_t why_len);

/**
 * Parse a needle's JSON text against its image size (for tests and for
 * shot_needle_load). On success the areas and tags are set in @n.
 * @return 0 or -EINVAL with @why set.
 */
int shot_needle_parse_json(shot_needle *n, const char *json, size_t len, char *why, size_t why_len);

void shot_needle_free(shot_needle *n);

/**
 * Match @n against @screen. @out is filled (free with shot_match_clear).
 * @return 0, or -ENOMEM.
 */
int shot_needle_match(const shot_needle *n, const shot_image *screen, shot_match *out);

void shot_match_clear(shot_match *m);

/**
 * An image that shows where @screen differs from @n at the best positions
 * of @m: the screen dimmed, each "match" area at its best position with
 * equal pixels as they are and differing ones red, framed in yellow (or
 * in green when the area reached its threshold).
 */
int shot_needle_diff(const shot_needle *n, const shot_image *screen, const shot_match *m,
                     shot_image *out);

/**
 * Write a needle cut from @screen: @path_base.png (the whole screen, as
 * openQA keeps it) and @path_base.json with one "match" area per rect.
 * @return 0, or -errno with @why set.
 */
int shot_needle_write(const shot_image *screen, const char *path_base, const shot_rect *rects,
                      size_t n_rects, double match, int margin, char **tags, char *why,
                      size_t why_len);

#endif /* VG_SHOT_NEEDLE_H */
