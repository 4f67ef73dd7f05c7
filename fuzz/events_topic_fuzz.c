/* fuzz/events_topic_fuzz.c: libFuzzer target for the subscription topics
 * shopd receives from subscribers (daemon/events.c, events_classify). Any
 * bytes are classified; a session topic names a session of 1 to
 * PROTO_SESSION_MAX bytes without NUL that is exactly the bytes between
 * '@' and the first '/', and a topic not starting with '@' is never one. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/events.h"
#include "ipc/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char session[PROTO_SESSION_MAX + 1];
    const char *t = (const char *) data;
    events_topic_t k = events_classify(t, size, session);
    if (size == 0 && k != EVENTS_TOPIC_WIDE)
        abort();
    if (size > 0 && t[0] != '@' && k != EVENTS_TOPIC_DAEMON)
        abort();
    if (k == EVENTS_TOPIC_SESSION) {
        size_t n = strlen(session);
        if (n == 0 || n > PROTO_SESSION_MAX || size < n + 2 || t[n + 1] != '/'
            || memcmp(t + 1, session, n) != 0 || memchr(t + 1, '/', n))
            abort();
    } else if (session[0]) {
        abort();
    }
    return 0;
}
