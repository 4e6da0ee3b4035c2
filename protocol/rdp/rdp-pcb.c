/*
 * vmgate — the MS-RDPEPS preconnection PDU. See rdp-pcb.h.
 */
#include "rdp-pcb.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>

#include "util.h"

#define PCB_HEADER 16

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int vg_rdp_pcb_parse(const uint8_t *buf, size_t len, vg_rdp_pcb *out)
{
    uint32_t size;
    size_t cch, end;
    gunichar2 units[VG_RDP_PCB_MAX_CHARS];
    g_autofree char *utf8 = NULL;
    glong written = 0;

    memset(out, 0, sizeof(*out));
    if (len < PCB_HEADER || len > VG_RDP_PCB_MAX_SIZE)
        return -EBADMSG;
    size = le32(buf);
    if (size != len)
        return -EBADMSG;
    out->version = le32(buf + 8);
    out->id = le32(buf + 12);
    if (out->version == 1) {
        if (len != PCB_HEADER)
            return -EBADMSG;
        out->present = 1;
        return 0;
    }
    if (out->version != 2 || len < PCB_HEADER + 2)
        return -EBADMSG;
    cch = (size_t)buf[16] | (size_t)buf[17] << 8;
    if (cch > VG_RDP_PCB_MAX_CHARS || PCB_HEADER + 2 + 2 * cch != len)
        return -EBADMSG;
    for (size_t i = 0; i < cch; i++)
        units[i] = (gunichar2)(buf[18 + 2 * i] | buf[19 + 2 * i] << 8);
    /* Trailing NULs end the string; a NUL inside it is malformed. */
    end = cch;
    while (end > 0 && units[end - 1] == 0)
        end--;
    for (size_t i = 0; i < end; i++)
        if (units[i] == 0 || units[i] < 0x20 || units[i] == 0x7f)
            return -EBADMSG;
    if (end > 0) {
        utf8 = g_utf16_to_utf8(units, (glong)end, NULL, &written, NULL);
        if (!utf8 || (size_t)written >= sizeof(out->blob))
            return -EBADMSG;
        memcpy(out->blob, utf8, (size_t)written + 1);
    }
    out->present = 1;
    return 0;
}

/* Wait until @fd is readable or the deadline passes. */
static int wait_readable(int fd, int64_t deadline_us)
{
    for (;;) {
        int64_t left = deadline_us - vg_now_us();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r;
        if (left <= 0)
            return -ETIMEDOUT;
        r = poll(&p, 1, (int)((left + 999) / 1000));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r > 0)
            return 0;
    }
}

/* Read exactly @len bytes (or peek them, with MSG_PEEK: then the caller's
 * buffer holds the first @len bytes still queued). */
static int read_exact(int fd, uint8_t *buf, size_t len, int flags, int64_t deadline_us)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n;
        int r = wait_readable(fd, deadline_us);
        if (r < 0)
            return r;
        n = recv(fd, buf + (flags & MSG_PEEK ? 0 : got), flags & MSG_PEEK ? len : len - got,
                 flags | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ECONNRESET;
        if (flags & MSG_PEEK) {
            if ((size_t)n >= len)
                return 0;
            /* Part of it is here; poll says readable at once while data
             * waits, so wait a moment for the rest rather than spin. */
            g_usleep(2000);
            if (vg_now_us() > deadline_us)
                return -ETIMEDOUT;
            continue;
        }
        got += (size_t)n;
    }
    return 0;
}

int vg_rdp_pcb_read(int fd, int timeout_ms, vg_rdp_pcb *out)
{
    int64_t deadline = vg_now_us() + (int64_t)timeout_ms * 1000;
    uint8_t buf[VG_RDP_PCB_MAX_SIZE];
    uint32_t size;
    int r;

    memset(out, 0, sizeof(*out));
    /* Two bytes tell a TPKT (03 00) from a PDU size (at least 16). */
    r = read_exact(fd, buf, 2, MSG_PEEK, deadline);
    if (r < 0)
        return r;
    if (buf[0] == 0x03 && buf[1] == 0x00)
        return 0;
    r = read_exact(fd, buf, 4, 0, deadline);
    if (r < 0)
        return r;
    size = le32(buf);
    if (size < PCB_HEADER || size > VG_RDP_PCB_MAX_SIZE)
        return -EBADMSG;
    r = read_exact(fd, buf + 4, size - 4, 0, deadline);
    if (r < 0)
        return r;
    return vg_rdp_pcb_parse(buf, size, out);
}

int vg_rdp_routing_token_parse(const char *token, size_t len, char *out, size_t out_len)
{
    static const char prefix[] = "Cookie: msts=";
    size_t n = len;

    if (!token || !out || out_len == 0)
        return -EBADMSG;
    out[0] = '\0';
    if (n > VG_RDP_TOKEN_MAX + sizeof(prefix) + 2)
        return -EBADMSG;
    if (n >= sizeof(prefix) - 1 && g_ascii_strncasecmp(token, prefix, sizeof(prefix) - 1) == 0) {
        token += sizeof(prefix) - 1;
        n -= sizeof(prefix) - 1;
    }
    while (n > 0 && (token[n - 1] == '\r' || token[n - 1] == '\n' || token[n - 1] == '\0'))
        n--;
    if (n == 0 || n >= out_len)
        return -EBADMSG;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)token[i] < 0x20 || (unsigned char)token[i] == 0x7f)
            return -EBADMSG;
    memcpy(out, token, n);
    out[n] = '\0';
    return 0;
}
