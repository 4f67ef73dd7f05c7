/* daemon/flow.h: the main job, from a spoken request, a typed sentence or a
 * product photo to recommendations, with the session's context.
 *
 * audio -> decode, keyword spotter (daemon/recog.h, on a worker) -> grammar -> intent
 * text  -> grammar -> intent
 * intent + session -> store / recommendation queries (search, cheaper,
 *          similar, add/remove, cart, checkout with yes/no, recommend,
 *          next/back, help) -> answer
 * photo -> decode, classifier (daemon/recog.h, on a worker) -> category + nearest
 *          catalogue products (visual index) -> similar + bought together
 *
 * Every answer is the reply body and, for the server to publish on the
 * request's session, the events: "intent", "product" and "recommendations"
 * carry exactly the reply's members of those names (each when the answer
 * has it), "cart" when the cart changed, and "answer" the whole reply body,
 * so a kiosk screen and a speaker on one session see the same thing.
 * Intents are routed by a table in flow.c (intent name -> function).
 * docs/main-job.md has the reply's fields and the rules of each intent. */
#ifndef SHOP_DAEMON_FLOW_H
#define SHOP_DAEMON_FLOW_H

#include <stddef.h>

#include <jansson.h>

#include "audio/listener.h"
#include "daemon/handler.h"
#include "daemon/recog.h"
#include "ipc/proto.h"

/* Results per page of recommendations. */
#define FLOW_PAGE 5
/* The most one cart line holds (cart set's limit, and adds stop there). */
#define FLOW_CART_LINE_MAX 1000

/* Finishes the answer of a photo, camera frame or audio request whose job a
 * worker has done (daemon/recog.h) into out (empty on entry): the reply
 * body and the events, or an error code and message (the job's own when it
 * failed). An utterance with no matching command is not an error: the reply
 * says what was heard. Runs on the server's thread. Returns out->code. */
proto_err_t flow_answer(const handler_env_t *env, const proto_request_t *req,
                        const recog_job_t *job, handler_result_t *out);

/* Recognise len bytes of WAV/FLAC/Ogg (audio) or JPEG/PNG/BMP (photo)
 * here, in-process, then flow_answer: for tools and tests (shopd runs the
 * recognition on its workers, in jailed decoders). */
proto_err_t flow_audio(const handler_env_t *env, const proto_request_t *req, const void *bytes,
                       size_t len, handler_result_t *out);

/* Answers a command the microphone heard (daemon/mic.h) on session into
 * out, as flow_answer answers a spoken request: the same events; the body
 * is what a reply would be, though nobody waits for one (subscribers get
 * it as the "answer" event). Returns out->code. */
proto_err_t flow_heard(const handler_env_t *env, const char *session,
                       const listener_utterance_t *u, handler_result_t *out);
proto_err_t flow_photo(const handler_env_t *env, const proto_request_t *req, const void *bytes,
                       size_t len, handler_result_t *out);

/* The sentence in the body's "text" (a frontend with its own speech
 * recogniser, or a keyboard): grammar, intent, answer, on the caller's
 * thread. */
proto_err_t flow_text(const handler_env_t *env, const proto_request_t *req,
                      handler_result_t *out);

/* {"session", "lines": [{"item", "quantity", "updated"}], "count"} for
 * session's cart: a new object, or NULL when the store fails. */
json_t *flow_cart_json(store_t *store, const char *session);

/* How many of item may be added to session's cart (delta > 0): delta
 * itself when the line stays within FLOW_CART_LINE_MAX, else what is
 * left of it (0 or more). -1 when the store fails. */
int flow_cart_room(store_t *store, const char *session, const char *item, int delta);

/* The state of the request's session (the kiosk page asks it when it
 * opens): {"session", "cart", "recommendations" (the current page of its
 * last query, when it has one), "item" (the product in view, when any)}.
 * Changes nothing and publishes nothing. Returns out->code. */
proto_err_t flow_session(const handler_env_t *env, const proto_request_t *req,
                         handler_result_t *out);

#endif
