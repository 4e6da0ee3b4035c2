/*
 * Unit tests: a scripted RFB server. See rfb-script.h.
 */
#include "rfb-script.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

void rfb_script_write(int fd, const void *p, size_t n)
{
    assert_int_equal(write(fd, p, n), (ssize_t)n);
}

void rfb_script_read(int fd, void *out, size_t n)
{
    uint8_t buf[256];
    uint8_t *dst = out;

    while (n > 0) {
        size_t want = dst || n < sizeof(buf) ? n : sizeof(buf);
        ssize_t r = read(fd, dst ? dst : buf, want);
        assert_true(r > 0);
        n -= (size_t)r;
        if (dst)
            dst += r;
    }
}

void rfb_script_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void rfb_script_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void rfb_script_serve_handshake(int fd, uint16_t w, uint16_t h)
{
    uint8_t sec[2] = {1, 1}, ok[4] = {0}, init[24 + 4] = {0};

    rfb_script_write(fd, "RFB 003.008\n", 12);
    rfb_script_read(fd, NULL, 12);
    rfb_script_write(fd, sec, 2);
    rfb_script_read(fd, NULL, 1);
    rfb_script_write(fd, ok, 4);
    rfb_script_read(fd, NULL, 1); /* ClientInit */
    rfb_script_be16(init, w);
    rfb_script_be16(init + 2, h);
    init[4] = 32;
    init[5] = 24;
    init[7] = 1;
    rfb_script_be16(init + 8, 255);
    rfb_script_be16(init + 10, 255);
    rfb_script_be16(init + 12, 255);
    init[14] = 16;
    init[15] = 8;
    rfb_script_be32(init + 20, 4);
    memcpy(init + 24, "test", 4);
    rfb_script_write(fd, init, sizeof(init));
}

void rfb_script_read_client_setup(int fd)
{
    uint8_t hdr[4];

    rfb_script_read(fd, NULL, 20);
    rfb_script_read(fd, hdr, 4);
    assert_int_equal(hdr[0], 2);
    rfb_script_read(fd, NULL, 4u * ((hdr[2] << 8) | hdr[3]));
    rfb_script_read(fd, NULL, 10);
}
