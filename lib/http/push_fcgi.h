/* push_fcgi.h: FastCGI on the wire, in one place: libfcgi's requests as push_request io, and the
 * records a program writes itself once it has taken a connection from libfcgi (push_loop) */
#ifndef PUSH_FCGI_H
#define PUSH_FCGI_H

#include <stddef.h>

#include "http/push_request.h"

/* FastCGI 1.0 record types this program writes */
#define PUSH_FCGI_END_REQUEST 3
#define PUSH_FCGI_STDOUT 6
#define PUSH_FCGI_HEADER_LEN 8
#define PUSH_FCGI_CONTENT_MAX 65535 /* content bytes one record can carry */

/* The io of a request accepted by libfcgi; io_ctx is its FCGX_Request. detach flushes, then
 * takes the connection: libfcgi will neither end nor close the request afterwards, and the
 * caller writes the rest of the answer as records (below) and closes the socket. */
extern const struct push_request_io push_fcgi_io;

/* The header of a record of type for request id with len content bytes (at most
 * PUSH_FCGI_CONTENT_MAX), no padding. */
void push_fcgi_header(unsigned char h[PUSH_FCGI_HEADER_LEN], int type, int id, size_t len);

/* Frames len bytes of stdout as records of at most PUSH_FCGI_CONTENT_MAX bytes, handing each
 * header and content to put (which returns 0, or -1 to stop); with len 0, the empty record that
 * ends stdout. Returns 0, or -1 when put did. */
int push_fcgi_stdout(int id, const char *data, size_t len,
                     int (*put)(void *ctx, const void *bytes, size_t n), void *ctx);

/* The records that end request id after its stdout: an empty stdout, then end-request with
 * status 0 and "request complete". */
int push_fcgi_end(int id, int (*put)(void *ctx, const void *bytes, size_t n), void *ctx);

#endif
