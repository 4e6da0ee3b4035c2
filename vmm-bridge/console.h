/*
 * vmgate — a VM console: the upstream RFB connection to QEMU's VNC server
 * over a socket that libvirt hands us (virDomainOpenGraphicsFD), decoded
 * into a vg_surface, with input going back the same way.
 *
 * The console implements vg_display_source.
 */
#ifndef VG_CONSOLE_H
#define VG_CONSOLE_H

#include "display.h"
#include "surface.h"

typedef struct vg_console vg_console;

typedef struct vg_console_events {
    /**
     * The upstream connection failed or ended. Runs once, on the console's
     * thread; the owner must vg_console_free() the console from another
     * thread (it may ask libvirt why first, to give a better reason).
     */
    void (*lost)(void *opaque, vg_console *console, const char *why);
} vg_console_events;

/**
 * Start a console on @fd (a connected stream socket to an RFB server that
 * offers security type None). Takes ownership of @fd in all cases. The
 * handshake runs on the console's own thread: wait for the first frame with
 * vg_surface_wait_frame().
 *
 * @param name  label for logs (the VM name)
 * @param events  optional; copied
 * @return 0, -EMFILE if @fd is too large for libvncclient's select(),
 *         -ENOMEM.
 */
int vg_console_new(const char *name, int fd, const vg_console_events *events, void *opaque,
                   vg_console **out);

/**
 * Stop the console thread and close the surface with @reason (viewers are
 * told). Input queued afterwards fails with -EPIPE. Idempotent. Never call it
 * from a console or surface callback.
 */
void vg_console_close(vg_console *console, const char *reason);

vg_console *vg_console_ref(vg_console *console);
/** Drop a reference; the last one closes (reason "console closed") and frees. NULL is fine. */
void vg_console_unref(vg_console *console);

/** vg_console_close() then vg_console_unref(). NULL is fine. */
void vg_console_free(vg_console *console, const char *reason);

/** The console as a display source (for send_key / send_pointer). */
vg_display_source *vg_console_source(vg_console *console);

/** The console's surface (borrowed; take a ref to keep it longer). */
vg_surface *vg_console_surface(vg_console *console);

/** Whether the server acknowledged QEMU extended key events (exact scancodes). */
bool vg_console_has_extended_keys(vg_console *console);

/** Largest screen mode consoles accept, process-wide (default 8192x8192).
 * A console whose VM takes a larger mode ends (lost), and
 * vg_console_refusal() says why. Any thread; applies to modes set after. */
void vg_console_set_max_screen(uint32_t width, uint32_t height);

/** Why the console ended because it refused the VM's screen mode, or NULL.
 * Valid once the lost event has run, for as long as @console lives. */
const char *vg_console_refusal(vg_console *console);

#endif /* VG_CONSOLE_H */
