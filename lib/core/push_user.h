/* push_user.h: what a user name may be (README "Limits"): one rule for tokens, REMOTE_USER, the
 * WebSocket and MQTT logins and the NOTIFY payloads. Includes nothing of the project's. */
#ifndef PUSH_USER_H
#define PUSH_USER_H

#include <stddef.h>

#define PUSH_USER_MAX 128 /* longest user name, bytes */

/* Is name an acceptable user name: 1 to PUSH_USER_MAX bytes of valid UTF-8 without control
 * characters (C0, DEL, C1)? */
int push_user_valid(const char *name, size_t len);

#endif
