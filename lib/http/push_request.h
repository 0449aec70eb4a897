/* push_request.h: one HTTP request as the programs see it: CGI variables and a byte stream */
#ifndef PUSH_REQUEST_H
#define PUSH_REQUEST_H

#include <stddef.h>

/* How a request's body is read and its answer written: FastCGI streams or CGI stdio. */
struct push_request_io {
    int (*write)(void *ctx, const char *buf, size_t len); /* 0, or -1 when the client is gone */
    int (*flush)(void *ctx);                             /* 0, or -1 when the client is gone */
    long (*read)(void *ctx, char *buf, size_t len);      /* bytes read; 0 at the end; -1 on error */
    int (*error)(void *ctx);                             /* errno of the last failed write */
    int (*closed)(void *ctx);                            /* has the web server hung up? */
    /* FastCGI only (else NULL): hands over the connection after flushing; the caller then
     * writes the FastCGI records of the rest of the answer to *fd itself and closes it */
    int (*detach)(void *ctx, int *fd, int *request_id);
};

struct push_request {
    char **envp;                      /* CGI variables: REQUEST_METHOD, REMOTE_USER, HTTP_* ... */
    const struct push_request_io *io;
    void *io_ctx;
};

/* The CGI variable name of this request, or NULL. The pointer lives as long as the request. */
const char *push_request_env(const struct push_request *r, const char *name);

/* Writes len bytes of the answer; 0, or -1 when the client is gone. */
int push_request_write(struct push_request *r, const char *buf, size_t len);

/* Pushes what was written so far to the web server; 0, or -1 when the client is gone. */
int push_request_flush(struct push_request *r);

/* Has the web server closed the connection (the client left), as far as can be seen without
 * writing? Never blocks. */
int push_request_closed(struct push_request *r);

/* Can the connection be handed over (push_request_detach)? */
int push_request_detachable(const struct push_request *r);

/* Flushes and hands over the connection: 0 with the socket and the FastCGI request id, after
 * which the request must not be written to; -1 when it cannot. */
int push_request_detach(struct push_request *r, int *fd, int *request_id);

/* After a failed write: did the client take no data for the write timeout (SO_SNDTIMEO), as
 * opposed to leaving? */
int push_request_timed_out(struct push_request *r);

#endif
