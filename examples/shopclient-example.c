/* examples/shopclient-example.c: a frontend in C with the installed
 * libshopclient. Sends a typed request on a session and prints shopd's
 * reply (JSON) on stdout, then the events the request published on that
 * session (one line each: topic and envelope) until its "answer" event.
 *
 *   cc shopclient-example.c $(pkg-config --cflags --libs shopclient) -o shopclient-example
 *   ./shopclient-example -e ipc:///run/shopd/shopd.sock -p ipc:///run/shopd/events.sock \
 *       kiosk-1 show me sneakers
 *
 * Exit status: 0 success, 1 an error reply or no reply, 2 usage. */
#include <shopclient.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
    const char *endpoint = NULL, *events_endpoint = NULL;
    int i = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (!strcmp(argv[i], "-e"))
            endpoint = argv[i + 1];
        else if (!strcmp(argv[i], "-p"))
            events_endpoint = argv[i + 1];
        else
            break;
    }
    if (argc - i < 2) {
        fprintf(stderr, "usage: %s [-e ENDPOINT] [-p EVENTS_ENDPOINT] SESSION WORDS...\n",
                argv[0]);
        return 2;
    }
    const char *session = argv[i++];
    char text[1000] = "";
    for (; i < argc; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", text[0] ? " " : "",
                 argv[i]);

    shopclient_error_t e;
    shopclient_t *c = shopclient_new(endpoint, &e);
    if (!c) {
        fprintf(stderr, "shopclient_new: %s\n", shopclient_strerror(e));
        return 1;
    }
    /* shopd up? (a starting shopd indexes its photos first) */
    char *reply = NULL;
    shopclient_set_timeout(c, 60000);
    if ((e = shopclient_request(c, "status", NULL, NULL, 0, &reply)) != SHOPCLIENT_OK) {
        fprintf(stderr, "status: %s: %s\n", shopclient_strerror(e), shopclient_errmsg(c));
        shopclient_destroy(&c);
        return 1;
    }
    shopclient_free(reply);
    /* A PUB socket drops what it publishes before a subscription reaches it:
     * the first status heartbeat (every status_interval seconds, 10 by
     * default) shows the stream is live, so the request's events arrive. */
    const char *const topics[] = { "status", "intent", "recommendations", "cart", "answer",
                                   NULL };
    shopclient_events_t *ev = shopclient_events_new(events_endpoint, session, topics, &e);
    char *topic = NULL, *event = NULL;
    if (!ev || (e = shopclient_events_next(ev, 30000, &topic, &event)) != SHOPCLIENT_OK) {
        fprintf(stderr, "events: %s\n", shopclient_strerror(e));
        shopclient_events_destroy(&ev);
        shopclient_destroy(&c);
        return 1;
    }
    shopclient_free(topic);
    shopclient_free(event);

    shopclient_set_session(c, session);
    e = shopclient_text(c, text, &reply);
    if (e != SHOPCLIENT_OK) {
        fprintf(stderr, "text: %s: %s\n", shopclient_strerror(e), shopclient_errmsg(c));
        shopclient_events_destroy(&ev);
        shopclient_destroy(&c);
        return 1;
    }
    printf("%s\n", reply);
    shopclient_free(reply);

    int status = 0;
    for (;;) {
        e = shopclient_events_next(ev, 5000, &topic, &event);
        if (e != SHOPCLIENT_OK) {
            fprintf(stderr, "events: %s\n", shopclient_strerror(e));
            status = 1;
            break;
        }
        /* others' sessions share the stream: keep this one's */
        char want[100];
        snprintf(want, sizeof want, "\"session\":\"%s\"", session);
        int mine = strcmp(topic, "status") != 0 && strstr(event, want) != NULL;
        if (mine)
            printf("%s %s\n", topic, event);
        int done = mine && !strcmp(topic, "answer");
        shopclient_free(topic);
        shopclient_free(event);
        if (done)
            break;
    }
    shopclient_events_destroy(&ev);
    shopclient_destroy(&c);
    return status;
}
