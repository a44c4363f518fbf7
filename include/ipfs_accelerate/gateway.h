/*
 * A read-only trustless HTTP gateway over a content store, as a module the
 * HTTP server mounts (ia_server_mount): `GET/HEAD /ipfs/{cid}[/path]`
 * answering application/vnd.ipld.raw (one block) or
 * application/vnd.ipld.car (the DAG, with dag-scope=all|entity|block),
 * chosen by ?format= or the Accept header, and Delegated Routing V1
 * `GET /routing/v1/providers/{cid}` naming this gateway when it holds the
 * block. https://specs.ipfs.tech/http-gateways/trustless-gateway/
 *
 * The gateway serves only what its store has locally (open the store
 * offline): it never fetches on behalf of a client. Every block it sends
 * was verified when read.
 *
 * Thread safety: the handler runs on several server threads at once.
 */
#ifndef IPFS_ACCELERATE_GATEWAY_H
#define IPFS_ACCELERATE_GATEWAY_H

#include "server.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ia_gateway ia_gateway;

/* A gateway over store (borrowed; must outlive the gateway). Its peer
 * identity (an Ed25519 key, for routing records) is kept in the store's
 * home as gateway-identity.key. */
IA_API ia_status ia_gateway_new(ia_store *store, ia_gateway **out);
IA_API void ia_gateway_free(ia_gateway *g);

/* The address advertised in routing answers, as a multiaddr
 * ("/ip4/127.0.0.1/tcp/8080/http"). Set it once the port is known. */
IA_API ia_status ia_gateway_set_address(ia_gateway *g, const char *multiaddr);
/* The gateway's peer ID ("12D3KooW..."); borrowed. */
IA_API const char *ia_gateway_peer_id(const ia_gateway *g);

/* Mount /ipfs/ and /routing/v1/ on s (before ia_server_start). Like every
 * mount they require the server's API key when it has one, run on its
 * handler threads and give up on a CAR past its timeout_s (504). */
IA_API ia_status ia_gateway_mount(ia_gateway *g, ia_server *s);

/* The handler itself, for servers that route on their own. */
IA_API void ia_gateway_handle(const ia_http_request *req, ia_http_response *res, void *gateway);

#ifdef __cplusplus
}
#endif
#endif
