/*
 * vmgate — the admin control protocol spoken between vmgated and vmgatectl
 * over a local UNIX stream socket.
 *
 * Framing: one JSON object per line, UTF-8, terminated by '\n'. A line
 * never contains a raw newline (JSON escapes it) nor a NUL byte. Lines are
 * bounded: a request by VG_CONTROL_REQUEST_MAX bytes, a response by
 * VG_CONTROL_RESPONSE_MAX (large enough for a base64 PNG of
 * VG_CONTROL_PNG_MAX bytes). Nesting deeper than VG_CONTROL_DEPTH_MAX is
 * refused before json-glib sees the text (its parser recurses).
 *
 * Request:   {"id":7,"cmd":"user.add","args":{"name":"alice","password":"..."}}
 * Success:   {"id":7,"ok":true,"result":{"name":"alice","nla":false}}
 * Failure:   {"id":7,"ok":false,"error":"user 'alice' already exists","code":"EEXIST"}
 * Stream:    {"id":9,"ok":true,"more":true,"result":{...}}   (zero or more)
 * Noted:     {"id":8,"ok":true,"result":[...],"note":"..."}
 *
 * A success may carry "note", a sentence for people about the answer
 * (where it came from when that is not the usual place), at most
 * VG_CONTROL_NOTE_MAX bytes.
 *
 * "id" is an integer chosen by the client and echoed by the server; "args"
 * is optional (an empty object when absent). "code" is the symbolic errno
 * name (strerrorname_np) of the failure; "error" is a one-line message for
 * people. A response with id 0 that the client did not ask for is about the
 * connection itself (the peer was refused, the server is stopping); the
 * server closes the connection after it.
 *
 * A command that streams (audit with follow) answers with items marked
 * "more":true, each a result of its own, until the client closes the
 * connection; if the server ends the stream it sends a final response
 * without "more" (an error saying why). Unknown members are ignored in both
 * directions so either side may grow new ones.
 *
 * The commands and their arguments are listed below with their names
 * (VG_CONTROL_CMD_*); docs/control-protocol.md has the same list with the
 * results.
 *
 * Threading: no shared state. A vg_control_reader belongs to one thread.
 */
#ifndef VG_CONTROL_H
#define VG_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-glib/json-glib.h>

/** Where vmgated listens and vmgatectl connects unless told otherwise. */
#define VG_CONTROL_DEFAULT_SOCKET "/run/vmgate/admin.sock"

/** Longest request line in bytes, the '\n' included. */
#define VG_CONTROL_REQUEST_MAX (64 * 1024)

/** Largest PNG a screenshot response may carry, in bytes. */
#define VG_CONTROL_PNG_MAX (64 * 1024 * 1024)

/** Longest response line in bytes, the '\n' included: a base64 PNG of VG_CONTROL_PNG_MAX fits. */
#define VG_CONTROL_RESPONSE_MAX (96 * 1024 * 1024)

/** Deepest nesting of arrays and objects accepted in a line. */
#define VG_CONTROL_DEPTH_MAX 32

/** Longest command name in bytes. */
#define VG_CONTROL_CMD_MAX 64

/* Commands. Arguments in brackets are optional. */
#define VG_CONTROL_CMD_USER_ADD     "user.add"     /**< name, password, [nla] */
#define VG_CONTROL_CMD_USER_PASSWD  "user.passwd"  /**< name, password, [nla] (default: keep) */
#define VG_CONTROL_CMD_USER_DEL     "user.del"     /**< name */
#define VG_CONTROL_CMD_USER_DISABLE "user.disable" /**< name */
#define VG_CONTROL_CMD_USER_ENABLE  "user.enable"  /**< name */
#define VG_CONTROL_CMD_USER_LIST    "user.list"    /**< none */
#define VG_CONTROL_CMD_VM_LIST      "vm.list"      /**< none */
#define VG_CONTROL_CMD_VM_POWER     "vm.power"     /**< vm, action */
#define VG_CONTROL_CMD_ASSIGN       "assign"       /**< user, vm, [role] (default owner) */
#define VG_CONTROL_CMD_UNASSIGN     "unassign"     /**< user, vm */
/** name, [idle_action, idle_minutes, assign_on_first_login] */
#define VG_CONTROL_CMD_POOL_CREATE   "pool.create"
#define VG_CONTROL_CMD_POOL_ADD      "pool.add"      /**< pool, vm */
#define VG_CONTROL_CMD_POOL_REMOVE   "pool.remove"   /**< pool, vm */
#define VG_CONTROL_CMD_POOL_DEL      "pool.del"      /**< name */
#define VG_CONTROL_CMD_POOL_LIST     "pool.list"     /**< none */
#define VG_CONTROL_CMD_ENTITLE       "entitle"       /**< user, pool */
#define VG_CONTROL_CMD_UNENTITLE     "unentitle"     /**< user, pool */
#define VG_CONTROL_CMD_SESSION_LIST  "session.list"  /**< none */
#define VG_CONTROL_CMD_SESSION_KICK  "session.kick"  /**< id, [reason] */
#define VG_CONTROL_CMD_SCREENSHOT    "screenshot"    /**< vm */
#define VG_CONTROL_CMD_SEND_TEXT     "send.text"     /**< vm, text */
#define VG_CONTROL_CMD_SEND_COMBO    "send.combo"    /**< vm, combo */
#define VG_CONTROL_CMD_AUDIT         "audit"         /**< [lines, follow] */
#define VG_CONTROL_CMD_INSTANCE_LIST "instance.list" /**< none */

/** A decoded request. Free with vg_control_request_free. */
typedef struct vg_control_request {
    int64_t id;
    char *cmd;        /**< 1..VG_CONTROL_CMD_MAX bytes */
    JsonObject *args; /**< never NULL: an empty object when the request had none */
} vg_control_request;

/** A decoded response. Free with vg_control_response_free. */
typedef struct vg_control_response {
    int64_t id;
    bool ok;
    bool more;        /**< a stream item: more responses to this id follow */
    JsonNode *result; /**< when ok: never NULL (a JSON null node when absent) */
    char *error;      /**< when !ok: the message */
    char *code;       /**< when !ok: errno name such as "ENOENT" ("EIO" when absent) */
    char *note;       /**< when ok: a note for people about the answer, or NULL */
} vg_control_response;

/** Longest note a success may carry, in bytes; a longer one is cut. */
#define VG_CONTROL_NOTE_MAX 1024

/**
 * Encode a request as one line ending in '\n'.
 * @param args  may be NULL (sent as an empty object); not consumed
 * @param line  receives a g_malloc'ed, NUL-terminated line (the caller
 *              frees it; wipe it first if @args held a secret)
 * @param len   receives its length in bytes, the '\n' included
 * @return 0; -EINVAL for a missing or over-long @cmd; -E2BIG if the line
 *         would exceed VG_CONTROL_REQUEST_MAX.
 */
int vg_control_encode_request(int64_t id, const char *cmd, JsonObject *args, char **line,
                              size_t *len);

/**
 * Decode one request line (@len bytes, with or without its '\n').
 * @return 0 and *out set; -E2BIG if longer than VG_CONTROL_REQUEST_MAX;
 *         -EBADMSG for anything else that is not a valid request (bad
 *         UTF-8, a NUL byte, malformed JSON, not an object, nesting too
 *         deep, a missing or mistyped id, cmd or args). On -EBADMSG, *id is
 *         set to the request's id when one could be read, else 0, so the
 *         error can be answered.
 */
int vg_control_decode_request(const char *line, size_t len, vg_control_request **out, int64_t *id);

/** Free a request. NULL is fine. */
void vg_control_request_free(vg_control_request *req);

/**
 * Encode a success (@more false) or a stream item (@more true).
 * @param result  may be NULL (sent as null); not consumed
 * @return 0 and *line, *len set as for vg_control_encode_request; -E2BIG
 *         if the line would exceed VG_CONTROL_RESPONSE_MAX.
 */
int vg_control_encode_result(int64_t id, JsonNode *result, bool more, char **line, size_t *len);

/**
 * As vg_control_encode_result, with @note (NULL: none) as the response's
 * "note", made valid UTF-8 and cut at VG_CONTROL_NOTE_MAX bytes.
 */
int vg_control_encode_result_note(int64_t id, JsonNode *result, bool more, const char *note,
                                  char **line, size_t *len);

/**
 * Encode a failure. @err is a negative (or positive) errno; @message a
 * one-line text for people (NULL: strerror's text). Newlines and control
 * characters in @message are escaped by JSON, so the line stays one line.
 * @return 0 and *line, *len set.
 */
int vg_control_encode_error(int64_t id, int err, const char *message, char **line, size_t *len);

/**
 * Decode one response line.
 * @return 0 and *out set; -E2BIG if longer than VG_CONTROL_RESPONSE_MAX;
 *         -EBADMSG if it is not a valid response.
 */
int vg_control_decode_response(const char *line, size_t len, vg_control_response **out);

/** Free a response. NULL is fine. */
void vg_control_response_free(vg_control_response *resp);

/** The symbolic name of errno @err (sign ignored), e.g. "ENOENT"; "EIO" if unknown. */
const char *vg_control_errno_name(int err);

/**
 * The errno value of a symbolic name produced by vg_control_errno_name.
 * @return a positive errno, or 0 if the name is unknown.
 */
int vg_control_errno_parse(const char *name);

/* ---- line I/O on a blocking stream socket ---- */

/** Reads bounded lines from a stream socket (see vg_control_reader_new). */
typedef struct vg_control_reader vg_control_reader;

/**
 * A line reader over @fd (not owned) that accepts lines of at most
 * @max_line bytes, the '\n' included. Its buffer is wiped when reused and
 * freed, because requests may carry passwords.
 */
vg_control_reader *vg_control_reader_new(int fd, size_t max_line);

/** Free a reader (wiping its buffer). NULL is fine. */
void vg_control_reader_free(vg_control_reader *r);

/**
 * Read the next line, blocking.
 * @param line  receives the line without its '\n', NUL-terminated; it
 *              belongs to the reader and stays valid until the next call.
 *              Set to NULL at a clean end of stream.
 * @param len   receives its length
 * @return 0 (a line, or the end of the stream); -E2BIG if the line is too
 *         long (the stream cannot be resynchronised: close it); -EPROTO if
 *         the stream ends inside a line; another negative errno from read.
 */
int vg_control_reader_next(vg_control_reader *r, char **line, size_t *len);

/**
 * Write all of @buf, retrying on EINTR, without raising SIGPIPE.
 * @return 0 or a negative errno (-EPIPE when the peer has gone).
 */
int vg_control_write_all(int fd, const char *buf, size_t len);

/**
 * Connect to the admin socket at @path.
 * @return 0 and *fd set (close it); -ENAMETOOLONG; the negative errno of
 *         connect(2): -ENOENT (no socket), -ECONNREFUSED (nobody
 *         listening), -EACCES (no permission on the file or its directory).
 */
int vg_control_connect(const char *path, int *fd);

#endif /* VG_CONTROL_H */
