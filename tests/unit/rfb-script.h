/*
 * Unit tests: the server side of a scripted RFB exchange on a socketpair,
 * for the tests of vmgate's RFB clients (console, client loop). Every
 * helper fails the running cmocka test on a short read or write.
 */
#ifndef VG_TEST_RFB_SCRIPT_H
#define VG_TEST_RFB_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

/** Write all @n bytes. */
void rfb_script_write(int fd, const void *p, size_t n);
/** Read exactly @n bytes into @out (NULL: read and drop them). */
void rfb_script_read(int fd, void *out, size_t n);

void rfb_script_be16(uint8_t *p, uint16_t v);
void rfb_script_be32(uint8_t *p, uint32_t v);

/** The server side of the RFB 3.8 handshake with security None, announcing w × h. */
void rfb_script_serve_handshake(int fd, uint16_t w, uint16_t h);

/** Read what vg_rfb_start() sends after ServerInit: SetPixelFormat,
 * SetEncodings (of any length), FramebufferUpdateRequest. */
void rfb_script_read_client_setup(int fd);

#endif /* VG_TEST_RFB_SCRIPT_H */
