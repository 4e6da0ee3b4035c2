/*
 * vmgate-shot — text on the screen with Tesseract's C API.
 *
 * Threading: see shot-ocr.h.
 */
#include "shot-ocr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <tesseract/capi.h>

#define OCR_SCALE  3
#define OCR_BORDER 16

struct shot_ocr {
    TessBaseAPI *api;
};

int shot_ocr_new(const char *lang, shot_ocr **out, char *why, size_t why_len)
{
    shot_ocr *o;

    *out = NULL;
    /* Before Tesseract starts OpenMP. */
    setenv("OMP_THREAD_LIMIT", "1", 0);
    o = g_new0(shot_ocr, 1);
    o->api = TessBaseAPICreate();
    if (!o->api) {
        g_free(o);
        snprintf(why, why_len, "cannot start Tesseract");
        return -ENOMEM;
    }
    /* Tesseract prints its own complaints on stderr; ours follows. */
    if (TessBaseAPIInit3(o->api, NULL, lang) != 0) {
        snprintf(why, why_len,
                 "Tesseract has no trained data for '%s' (Debian package tesseract-ocr-%s)", lang,
                 lang);
        shot_ocr_free(o);
        return -ENOENT;
    }
    /* One block of text: a console's lines all start at the left edge, and
     * Tesseract's page layout analysis split a line's words into columns. */
    TessBaseAPISetPageSegMode(o->api, PSM_SINGLE_BLOCK);
    *out = o;
    return 0;
}

void shot_ocr_free(shot_ocr *o)
{
    if (!o)
        return;
    TessBaseAPIEnd(o->api);
    TessBaseAPIDelete(o->api);
    g_free(o);
}

int shot_ocr_read(shot_ocr *o, const shot_image *img, const shot_rect *area, char **text)
{
    shot_rect r = area ? *area : (shot_rect){0, 0, (int)img->width, (int)img->height};
    g_autofree uint8_t *grey = NULL, *big = NULL;
    size_t n, sum = 0;
    bool invert;
    int bw, bh;
    char *t;

    *text = NULL;
    if (!shot_rect_inside(&r, img->width, img->height))
        return -EINVAL;
    n = (size_t)r.w * (size_t)r.h;
    grey = g_try_malloc(n);
    bw = r.w * OCR_SCALE + 2 * OCR_BORDER;
    bh = r.h * OCR_SCALE + 2 * OCR_BORDER;
    big = g_try_malloc((size_t)bw * (size_t)bh);
    if (!grey || !big)
        return -ENOMEM;
    for (int y = 0; y < r.h; y++) {
        for (int x = 0; x < r.w; x++) {
            const uint8_t *p = img->px + ((size_t)(r.y + y) * img->width + (size_t)(r.x + x)) * 4;
            /* ITU-R BT.601 luma from B, G, R. */
            uint8_t v = (uint8_t)((p[2] * 299 + p[1] * 587 + p[0] * 114) / 1000);
            grey[(size_t)y * (size_t)r.w + (size_t)x] = v;
            sum += v;
        }
    }
    /* Tesseract reads dark text on a light ground best, larger than a
     * console's 8 x 16 font and smoothed (bilinear), with a margin. */
    invert = sum / n < 128;
    memset(big, 255, (size_t)bw * (size_t)bh);
    for (int y = 0; y < bh - 2 * OCR_BORDER; y++) {
        for (int x = 0; x < bw - 2 * OCR_BORDER; x++) {
            /* The source position of this pixel's centre, in 1/256ths. */
            int sx = ((2 * x + 1) * 256 / OCR_SCALE - 256) / 2,
                sy = ((2 * y + 1) * 256 / OCR_SCALE - 256) / 2;
            int x0, y0, fx, fy, x1, y1, v;
            if (sx < 0)
                sx = 0;
            if (sy < 0)
                sy = 0;
            x0 = sx >> 8;
            y0 = sy >> 8;
            fx = sx & 255;
            fy = sy & 255;
            x1 = x0 + 1 < r.w ? x0 + 1 : x0;
            y1 = y0 + 1 < r.h ? y0 + 1 : y0;
            v = (grey[(size_t)y0 * (size_t)r.w + (size_t)x0] * (256 - fx) * (256 - fy) +
                 grey[(size_t)y0 * (size_t)r.w + (size_t)x1] * fx * (256 - fy) +
                 grey[(size_t)y1 * (size_t)r.w + (size_t)x0] * (256 - fx) * fy +
                 grey[(size_t)y1 * (size_t)r.w + (size_t)x1] * fx * fy) >>
                16;
            big[(size_t)(y + OCR_BORDER) * (size_t)bw + (size_t)(x + OCR_BORDER)] =
                invert ? (uint8_t)(255 - v) : (uint8_t)v;
        }
    }
    TessBaseAPISetImage(o->api, big, bw, bh, 1, bw);
    TessBaseAPISetSourceResolution(o->api, 300);
    t = TessBaseAPIGetUTF8Text(o->api);
    if (!t)
        return -EIO;
    *text = g_strdup(t);
    TessDeleteText(t);
    return 0;
}

/* One character as compared: console fonts draw some letters so alike that
 * OCR cannot tell them apart (the VGA font's v is a u with a point). */
static gunichar fold(gunichar c)
{
    switch (c) {
    case 'v':
        return 'u';
    case 'V':
        return 'U';
    case '0':
        return 'O';
    case '1':
    case 'I':
    case '|':
        return 'l';
    case 0x201c: /* curly double quotes */
    case 0x201d:
        return '"';
    case 0x2018: /* curly single quotes */
    case 0x2019:
        return '\'';
    default:
        return c;
    }
}

/* @s folded, with every run of white space turned into one space, trimmed. */
static char *squeeze(const char *s)
{
    GString *out = g_string_new(NULL);
    bool space = false;

    if (!g_utf8_validate(s, -1, NULL))
        return g_string_free(out, FALSE);
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (g_unichar_isspace(c)) {
            space = out->len > 0;
            continue;
        }
        if (space)
            g_string_append_c(out, ' ');
        space = false;
        g_string_append_unichar(out, fold(c));
    }
    return g_string_free(out, FALSE);
}

bool shot_ocr_contains(const char *read, const char *wanted)
{
    g_autofree char *a = squeeze(read), *b = squeeze(wanted);
    return *b && strstr(a, b) != NULL;
}
