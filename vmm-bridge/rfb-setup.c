/*
 * vmgate — shared RFB client setup. See rfb-setup.h.
 */
#include "rfb-setup.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "log.h"

/* vg_rfb_log_observe(): the observer, under observer_lock; `observed` lets
 * a line that nobody reads cost one comparison when debug is off. */
static GMutex observer_lock;
static vg_rfb_log_observer observer;
static void *observer_opaque;
static gint observed;

bool vg_rfb_send_format_and_encodings(rfbClient *cl)
{
    rfbSetPixelFormatMsg pf;
    struct {
        rfbSetEncodingsMsg hdr;
        uint32_t enc[5];
    } se;
    /* CopyRect: a scroll moves what the client has (vmgate's VNC front end
     * sends it; libvncclient applies it and reports the rectangle as any
     * other update). */
    const int32_t encodings[] = {rfbEncodingRaw, rfbEncodingCopyRect, rfbEncodingRichCursor,
                                 rfbEncodingNewFBSize, VG_ENC_QEMU_EXT_KEY};

    cl->format.bitsPerPixel = 32;
    cl->format.depth = 24;
    cl->format.bigEndian = 0;
    cl->format.trueColour = 1;
    cl->format.redMax = 255;
    cl->format.greenMax = 255;
    cl->format.blueMax = 255;
    cl->format.redShift = 16;
    cl->format.greenShift = 8;
    cl->format.blueShift = 0;

    memset(&pf, 0, sizeof(pf));
    pf.type = rfbSetPixelFormat;
    pf.format = cl->format;
    pf.format.redMax = g_htons(255);
    pf.format.greenMax = g_htons(255);
    pf.format.blueMax = g_htons(255);
    if (!WriteToRFBServer(cl, (char *)&pf, sz_rfbSetPixelFormatMsg))
        return false;

    G_STATIC_ASSERT(G_N_ELEMENTS(encodings) <= G_N_ELEMENTS(se.enc));
    memset(&se, 0, sizeof(se));
    se.hdr.type = rfbSetEncodings;
    se.hdr.nEncodings = g_htons(G_N_ELEMENTS(encodings));
    for (size_t i = 0; i < G_N_ELEMENTS(encodings); i++)
        se.enc[i] = g_htonl((uint32_t)encodings[i]);
    return WriteToRFBServer(cl, (char *)&se,
                            sz_rfbSetEncodingsMsg + 4 * (unsigned)G_N_ELEMENTS(encodings));
}

bool vg_rfb_start(rfbClient *cl)
{
    cl->width = cl->si.framebufferWidth;
    cl->height = cl->si.framebufferHeight;
    /* libvncclient asks for every later (incremental) update with
     * updateRect, which only rfbInitClient() sets: left at rfbGetClient()'s
     * -1, the requests name x 65535 and a negative width. QEMU ignores the
     * rectangle of an incremental request, libvncserver (vmgate's VNC front
     * end) ignores the request: such a client saw its first frame only. */
    cl->updateRect.x = 0;
    cl->updateRect.y = 0;
    cl->updateRect.w = cl->width;
    cl->updateRect.h = cl->height;
    return cl->MallocFrameBuffer(cl) && vg_rfb_send_format_and_encodings(cl) &&
           SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, FALSE);
}

/* The one hook libvncclient logs through (both rfbClientLog and rfbClientErr). */
G_GNUC_PRINTF(1, 2) static void rfb_log(const char *fmt, ...)
{
    bool debug = vg_log_level_now() >= VG_LOG_DEBUG;
    char buf[512];
    va_list ap;

    if (!debug && !g_atomic_int_get(&observed))
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    g_strchomp(buf);
    if (debug)
        vg_log_write(VG_LOG_DEBUG, "libvncclient", "%s", buf);
    g_mutex_lock(&observer_lock);
    if (observer)
        observer(observer_opaque, buf);
    g_mutex_unlock(&observer_lock);
}

void vg_rfb_log_install(void)
{
    rfbClientLog = rfb_log;
    rfbClientErr = rfb_log;
}

void vg_rfb_log_observe(vg_rfb_log_observer fn, void *opaque)
{
    vg_rfb_log_install();
    g_mutex_lock(&observer_lock);
    observer = fn;
    observer_opaque = opaque;
    g_atomic_int_set(&observed, fn != NULL);
    g_mutex_unlock(&observer_lock);
}
