/* fcgi-hello.c: the smallest useful FastCGI responder, for scale in bench/compare.sh: answers every
 * request with a fixed 13-byte JSON body, no database, no parsing.
 *
 *   fcgi-hello SOCKET [THREADS]     (external FastCGI server on a unix socket path; default 8 threads,
 *                                    as push-poll's PUSH_THREADS as an external server)
 *
 * Each thread blocks in FCGX_Accept_r on the shared socket, as push-poll's workers do. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcgiapp.h>

static int sock;

static void *serve(void *unused)
{
    FCGX_Request req;

    (void)unused;
    if (FCGX_InitRequest(&req, sock, 0) != 0)
        return NULL;
    while (FCGX_Accept_r(&req) >= 0) {
        FCGX_PutS("Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
                  "{\"ok\":true}\r\n", req.out);
        FCGX_Finish_r(&req);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long threads = argc > 2 ? strtol(argv[2], &end, 10) : 8;

    if (argc < 2 || argv[1][0] == '-' || threads < 1 || threads > 1000 || (end && *end)) {
        fprintf(stderr, "usage: fcgi-hello SOCKET [THREADS]\n");
        return argc > 1 && argv[1][0] == '-' && argv[1][1] == 'h' ? 0 : 2;
    }
    if (FCGX_Init() != 0)
        return 1;
    unlink(argv[1]);
    if ((sock = FCGX_OpenSocket(argv[1], 1024)) < 0) {
        perror("fcgi-hello: FCGX_OpenSocket");
        return 1;
    }
    chmod(argv[1], 0777);
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, serve, NULL) != 0)
            return 1;
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return 0;
}
