/* push_wsd.h: the push-ws daemon: one epoll loop for every socket, worker threads for the database */
#ifndef PUSH_WSD_H
#define PUSH_WSD_H

#include "core/push_config.h"

/* Serves WebSocket clients on the listening socket lfd until SIGTERM or SIGINT, then closes
 * every socket with 1001 and returns the exit status. One LISTEN connection (push_hub) and
 * cfg->db_pool worker threads, each with one query connection, whatever the number of sockets.
 * appname is borrowed for the process's life. Call with SIGTERM and SIGINT blocked in every
 * thread (push_wsd_block_signals, before any thread starts). */
int push_wsd_run(const struct push_config *cfg, const char *appname, int lfd);

/* Blocks SIGTERM and SIGINT in this thread and those it starts: push_wsd_run reads them. */
void push_wsd_block_signals(void);

#endif
