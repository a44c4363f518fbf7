/* ipfs-accelerate: the whole public API. Include this one header. */
#ifndef IPFS_ACCELERATE_H
#define IPFS_ACCELERATE_H

#include "common.h"
#include "tokenizer.h"
#include "model.h"
#include "generate.h"
#include "hub.h"
#include "hardware.h"
#include "config.h"
#include "server.h"
#include "cid.h"
#include "dagpb.h"
#include "unixfs.h"
#include "car.h"
#include "store.h"
#include "gateway.h"
#include "cluster.h"

#endif
