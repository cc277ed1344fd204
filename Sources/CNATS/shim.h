#ifndef STRATA_CNATS_SHIM_H
#define STRATA_CNATS_SHIM_H
#include <nats/nats.h>
#endif
