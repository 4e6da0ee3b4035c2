/*
 * Unit tests: the MS-RDPEPS preconnection PDU — parsing every malformed
 * shape, and reading it off a socket without taking a byte of the X.224
 * request that follows.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "rdp-pcb.h"

/* A PDU: version 1 (no blob) or 2 with @blob (UTF-8, sent as UTF-16LE with
 * a trailing NUL, as clients do). Returns its size. */
static size_t make_pcb(uint8_t *buf, size_t cap, uint32_t version, uint32_t id, const char *blob)
{
    size_t n = 16;
    gunichar2 *u = NULL;
    glong units = 0;

    if (version == 2) {
        u = g_utf8_to_utf16(blob, -1, NULL, &units, NULL);
        assert_non_null(u);
        units++; /* the NUL */
        n += 2 + 2 * (size_t)units;
    }
    assert_true(n <= cap);
    memset(buf, 0, n);
    buf[0] = (uint8_t)n;
    buf[1] = (uint8_t)(n >> 8);
    buf[8] = (uint8_t)version;
    buf[12] = (uint8_t)id;
    if (version == 2) {
        buf[16] = (uint8_t)units;
        buf[17] = (uint8_t)(units >> 8);
        for (glong i = 0; i < units - 1; i++) {
            buf[18 + 2 * i] = (uint8_t)u[i];
            buf[19 + 2 * i] = (uint8_t)(u[i] >> 8);
        }
    }
    g_free(u);
    return n;
}

static void test_pcb_v2_blob(void **state)
{
    uint8_t buf[1024];
    vg_rdp_pcb pcb;
    size_t n = make_pcb(buf, sizeof(buf), 2, 7, "vmgate-demo-1");
    (void)state;

    assert_int_equal(vg_rdp_pcb_parse(buf, n, &pcb), 0);
    assert_true(pcb.present);
    assert_int_equal(pcb.version, 2);
    assert_int_equal(pcb.id, 7);
    assert_string_equal(pcb.blob, "vmgate-demo-1");

    n = make_pcb(buf, sizeof(buf), 2, 0, "Größe-ü");
    assert_int_equal(vg_rdp_pcb_parse(buf, n, &pcb), 0);
    assert_string_equal(pcb.blob, "Größe-ü");
}

static void test_pcb_v1(void **state)
{
    uint8_t buf[64];
    vg_rdp_pcb pcb;
    size_t n = make_pcb(buf, sizeof(buf), 1, 42, NULL);
    (void)state;

    assert_int_equal(vg_rdp_pcb_parse(buf, n, &pcb), 0);
    assert_int_equal(pcb.version, 1);
    assert_int_equal(pcb.id, 42);
    assert_string_equal(pcb.blob, "");
}

static void test_pcb_malformed(void **state)
{
    uint8_t buf[2048], bad[2048];
    vg_rdp_pcb pcb;
    size_t n = make_pcb(buf, sizeof(buf), 2, 1, "vm");
    (void)state;

    /* Shorter than a header, or cbSize disagreeing with the length. */
    assert_int_equal(vg_rdp_pcb_parse(buf, 15, &pcb), -EBADMSG);
    assert_int_equal(vg_rdp_pcb_parse(buf, n - 1, &pcb), -EBADMSG);
    /* Unknown versions. */
    memcpy(bad, buf, n);
    bad[8] = 3;
    assert_int_equal(vg_rdp_pcb_parse(bad, n, &pcb), -EBADMSG);
    bad[8] = 0;
    assert_int_equal(vg_rdp_pcb_parse(bad, n, &pcb), -EBADMSG);
    /* Version 1 with bytes after the header. */
    memcpy(bad, buf, n);
    bad[8] = 1;
    assert_int_equal(vg_rdp_pcb_parse(bad, n, &pcb), -EBADMSG);
    /* cchPCB beyond the PDU, and short of it. */
    memcpy(bad, buf, n);
    bad[16] = 200;
    assert_int_equal(vg_rdp_pcb_parse(bad, n, &pcb), -EBADMSG);
    bad[16] = 1;
    assert_int_equal(vg_rdp_pcb_parse(bad, n, &pcb), -EBADMSG);
    /* A NUL inside the blob, a control character, a lone surrogate. */
    memcpy(bad, buf, n);
    bad[18] = 0;
    assert_int_equal(vg_rdp_pcb_parse(bad, n, &pcb), -EBADMSG);
    memcpy(bad, buf, n);
    bad[18] = '\n';
    assert_int_equal(vg_rdp_pcb_parse(bad, n, &pcb), -EBADMSG);
    memcpy(bad, buf, n);
    bad[18] = 0x00;
    bad[19] = 0xd8;
    assert_int_equal(vg_rdp_pcb_parse(bad, n, &pcb), -EBADMSG);
    /* Longer than the limit. */
    {
        g_autofree char *longname = g_strnfill(VG_RDP_PCB_MAX_CHARS + 1, 'a');
        uint8_t big[2 * VG_RDP_PCB_MAX_CHARS + 64];
        size_t bn = make_pcb(big, sizeof(big), 2, 0, longname);
        assert_int_equal(vg_rdp_pcb_parse(big, bn, &pcb), -EBADMSG);
    }
    /* The longest accepted. */
    {
        g_autofree char *name = g_strnfill(VG_RDP_PCB_MAX_CHARS - 1, 'b');
        uint8_t big[2 * VG_RDP_PCB_MAX_CHARS + 64];
        size_t bn = make_pcb(big, sizeof(big), 2, 0, name);
        assert_int_equal(vg_rdp_pcb_parse(big, bn, &pcb), 0);
        assert_string_equal(pcb.blob, name);
    }
}

static const uint8_t x224[] = {0x03, 0x00, 0x00, 0x13, 0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00,
                               0x00, 0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00};

/* What is left in the socket after the read. */
static size_t rest(int fd, uint8_t *buf, size_t cap)
{
    ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
    return n < 0 ? 0 : (size_t)n;
}

static void test_pcb_read_leaves_x224(void **state)
{
    int sp[2];
    uint8_t buf[1024], left[64];
    vg_rdp_pcb pcb;
    size_t n;
    (void)state;

    /* A PDU then the X.224 request: the PDU is read, the request stays. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    n = make_pcb(buf, sizeof(buf), 2, 0, "2f1c6d3e-0000-4000-8000-00000000abcd");
    memcpy(buf + n, x224, sizeof(x224));
    assert_int_equal(write(sp[1], buf, n + sizeof(x224)), (ssize_t)(n + sizeof(x224)));
    assert_int_equal(vg_rdp_pcb_read(sp[0], 2000, &pcb), 0);
    assert_true(pcb.present);
    assert_string_equal(pcb.blob, "2f1c6d3e-0000-4000-8000-00000000abcd");
    assert_int_equal(rest(sp[0], left, sizeof(left)), sizeof(x224));
    assert_memory_equal(left, x224, sizeof(x224));

    /* No PDU: nothing is consumed. */
    assert_int_equal(write(sp[1], x224, sizeof(x224)), (ssize_t)sizeof(x224));
    assert_int_equal(vg_rdp_pcb_read(sp[0], 2000, &pcb), 0);
    assert_false(pcb.present);
    assert_int_equal(rest(sp[0], left, sizeof(left)), sizeof(x224));
    close(sp[0]);
    close(sp[1]);
}

static void test_pcb_read_refusals(void **state)
{
    int sp[2];
    uint8_t buf[64] = {0};
    vg_rdp_pcb pcb;
    (void)state;

    /* A huge cbSize is refused at once, without waiting for the bytes. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    buf[0] = 0xff;
    buf[1] = 0xff;
    buf[2] = 0xff;
    buf[3] = 0x7f;
    assert_int_equal(write(sp[1], buf, 16), 16);
    assert_int_equal(vg_rdp_pcb_read(sp[0], 2000, &pcb), -EBADMSG);
    close(sp[0]);
    close(sp[1]);

    /* A size smaller than the header. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    memset(buf, 0, sizeof(buf));
    buf[0] = 8;
    assert_int_equal(write(sp[1], buf, 16), 16);
    assert_int_equal(vg_rdp_pcb_read(sp[0], 2000, &pcb), -EBADMSG);
    close(sp[0]);
    close(sp[1]);

    /* A truncated PDU from a client that then waits: a timeout. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    memset(buf, 0, sizeof(buf));
    buf[0] = 40;
    assert_int_equal(write(sp[1], buf, 20), 20);
    assert_int_equal(vg_rdp_pcb_read(sp[0], 200, &pcb), -ETIMEDOUT);
    close(sp[0]);
    close(sp[1]);

    /* A truncated PDU and a close. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    assert_int_equal(write(sp[1], buf, 20), 20);
    close(sp[1]);
    assert_int_equal(vg_rdp_pcb_read(sp[0], 2000, &pcb), -ECONNRESET);
    close(sp[0]);

    /* Silence. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    assert_int_equal(vg_rdp_pcb_read(sp[0], 100, &pcb), -ETIMEDOUT);
    close(sp[0]);
    close(sp[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcb_v2_blob),         cmocka_unit_test(test_pcb_v1),
        cmocka_unit_test(test_pcb_malformed),       cmocka_unit_test(test_pcb_read_leaves_x224),
        cmocka_unit_test(test_pcb_read_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
