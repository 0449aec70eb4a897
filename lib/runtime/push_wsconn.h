/* push_wsconn.h: a WebSocket as a stream of the event loop: frames out, commands in */
#ifndef PUSH_WSCONN_H
#define PUSH_WSCONN_H

#include "core/push_cursor.h"
#include "http/push_upgrade.h"
#include "runtime/push_loop.h"

/* Bounds of a socket (the loop's PUSH_LOOP_OUT_HIGH and PUSH_LOOP_OUT_MAX hold too):
 * What a socket's output costs is what wslay holds for it, PUSH_WSCONN_MSG_COST per queued
 * message (ours, and the pongs and closes wslay queues itself in answer to the peer's frames),
 * and the HTTP bytes before the upgrade. From PUSH_LOOP_OUT_HIGH on nothing more is read from
 * the socket, so a peer that sends without reading cannot make us queue more: it holds at most
 * that, plus what the frames of one read (wslay's 4 KiB buffer: at most 683 empty pings) and
 * one batch or PUSH_WSCONN_CMDS answers add. Past PUSH_LOOP_OUT_MAX, checked after every frame
 * read and every batch, the socket is dropped. */
#define PUSH_WSCONN_MSG_COST 128 /* wslay's message record and queue cell with their malloc
                                  * headers (about 100 bytes), besides the payload */
#define PUSH_WSCONN_CMDS 8       /* commands waiting per socket; reading pauses while it is full */
#define PUSH_WSCONN_CLOSE_MS 2000 /* after our close frame, the peer's is awaited this long */

/* The loop takes s (joined with push_ws_encoder) over on the socket fd, whose upgrade request
 * was accepted with the Sec-WebSocket-Accept value accept: its readers make the first read from
 * *from (NULL: from now on), then answer 101 and {"type": "open"}, the messages and the counts;
 * or an HTTP error (400 cursor_future, 503) and close. From then on: events as they happen,
 * commands run by the readers, a ping every PUSH_HEARTBEAT. */
void push_wsconn_adopt(struct push_loop *l, struct push_loop_stream *s, int fd,
                       const char accept[PUSH_UPGRADE_ACCEPT_LEN + 1],
                       const struct push_cursor *from);

#endif
