/* push_request.c: access to a request's variables and streams */
#include "config.h"

#include "http/push_request.h"

#include "core/push_config.h"

#include <errno.h>

const char *push_request_env(const struct push_request *r, const char *name)
{
    return push_env_get(r->envp, name);
}

int push_request_write(struct push_request *r, const char *buf, size_t len)
{
    return r->io->write(r->io_ctx, buf, len);
}

int push_request_flush(struct push_request *r)
{
    return r->io->flush(r->io_ctx);
}

int push_request_closed(struct push_request *r)
{
    return r->io->closed ? r->io->closed(r->io_ctx) : 0;
}

int push_request_detachable(const struct push_request *r)
{
    return r->io->detach != NULL;
}

int push_request_detach(struct push_request *r, int *fd, int *request_id)
{
    return r->io->detach ? r->io->detach(r->io_ctx, fd, request_id) : -1;
}

int push_request_timed_out(struct push_request *r)
{
    int err = r->io->error ? r->io->error(r->io_ctx) : 0;

    return err == EAGAIN || err == EWOULDBLOCK;
}
