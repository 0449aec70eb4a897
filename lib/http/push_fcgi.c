/* push_fcgi.c: FastCGI on the wire: libfcgi's requests as push_request io, and records */
#include "config.h"

#include "http/push_fcgi.h"

#include <poll.h>

#include <fcgiapp.h>

/* --- requests accepted by libfcgi */

static int fcgx_write(void *ctx, const char *buf, size_t len)
{
    FCGX_Request *req = ctx;

    return FCGX_PutStr(buf, (int)len, req->out) == (int)len ? 0 : -1;
}

static int fcgx_flush(void *ctx)
{
    FCGX_Request *req = ctx;

    return FCGX_FFlush(req->out) == 0 ? 0 : -1;
}

static long fcgx_read(void *ctx, char *buf, size_t len)
{
    FCGX_Request *req = ctx;

    return FCGX_GetStr(buf, (int)len, req->in);
}

static int fcgx_error(void *ctx)
{
    FCGX_Request *req = ctx;

    return FCGX_GetError(req->out);
}

/* None of Apache, lighttpd or nginx sends FCGI_ABORT_REQUEST: a client that left shows as the
 * web server closing our connection. */
static int fcgx_closed(void *ctx)
{
    FCGX_Request *req = ctx;
    struct pollfd pfd = { req->ipcFd, POLLRDHUP, 0 };

    return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Takes the connection from libfcgi once what was written is out: the event loop writes the
 * rest of the answer's records (push_loop) itself. Marked closed and without a descriptor, the
 * request is then neither ended nor closed by FCGX_Finish_r (FCGX_FClose does nothing for a
 * stream already closed, FCGX_Free closes descriptor -1). */
static int fcgx_detach(void *ctx, int *fd, int *request_id)
{
    FCGX_Request *req = ctx;

    if (req->ipcFd < 0 || FCGX_FFlush(req->out) != 0)
        return -1;
    *fd = req->ipcFd;
    *request_id = req->requestId;
    req->out->wasFCloseCalled = req->err->wasFCloseCalled = 1;
    req->out->isClosed = req->err->isClosed = 1;
    req->ipcFd = -1;
    return 0;
}

const struct push_request_io push_fcgi_io = {
    .write = fcgx_write,
    .flush = fcgx_flush,
    .read = fcgx_read,
    .error = fcgx_error,
    .closed = fcgx_closed,
    .detach = fcgx_detach,
};

/* --- records (FastCGI 1.0, section 3.3) */

void push_fcgi_header(unsigned char h[PUSH_FCGI_HEADER_LEN], int type, int id, size_t len)
{
    h[0] = 1; /* FCGI_VERSION_1 */
    h[1] = (unsigned char)type;
    h[2] = (unsigned char)(id >> 8);
    h[3] = (unsigned char)id;
    h[4] = (unsigned char)(len >> 8);
    h[5] = (unsigned char)len;
    h[6] = 0; /* no padding */
    h[7] = 0;
}

int push_fcgi_stdout(int id, const char *data, size_t len,
                     int (*put)(void *ctx, const void *bytes, size_t n), void *ctx)
{
    unsigned char h[PUSH_FCGI_HEADER_LEN];
    size_t at = 0;

    do {
        size_t n = len - at > PUSH_FCGI_CONTENT_MAX ? PUSH_FCGI_CONTENT_MAX : len - at;

        push_fcgi_header(h, PUSH_FCGI_STDOUT, id, n);
        if (put(ctx, h, sizeof h) < 0 || (n && put(ctx, data + at, n) < 0))
            return -1;
        at += n;
    } while (at < len);
    return 0;
}

int push_fcgi_end(int id, int (*put)(void *ctx, const void *bytes, size_t n), void *ctx)
{
    unsigned char h[PUSH_FCGI_HEADER_LEN];
    static const unsigned char complete[8] = { 0 }; /* appStatus 0, FCGI_REQUEST_COMPLETE */

    if (push_fcgi_stdout(id, NULL, 0, put, ctx) < 0)
        return -1;
    push_fcgi_header(h, PUSH_FCGI_END_REQUEST, id, sizeof complete);
    return put(ctx, h, sizeof h) < 0 || put(ctx, complete, sizeof complete) < 0 ? -1 : 0;
}
