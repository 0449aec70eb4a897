/* push_fcgiconn.h: the FastCGI kind of the event loop's streams: the answer to a request of the
 * web server's, written as FastCGI records on the connection libfcgi handed over */
#ifndef PUSH_FCGICONN_H
#define PUSH_FCGICONN_H

#include "http/push_request.h"
#include "runtime/push_loop_conn.h"

/* The kind (push_loop_adopt's), and the request io of its streams: the encoder's bytes go to the
 * stream's body, and a flush frames them as stdout records into its output. Bounded by
 * PUSH_LOOP_OUT_MAX: past it a write fails, and the loop drops the stream. */
extern const struct push_loop_kind push_fcgiconn_kind;
extern const struct push_request_io push_fcgiconn_io;

#endif
