// SRVP configuration: defaults and validation (src/proto/srvp.proto).
//
// ApplySrvpDefaults fills every zero/empty field with the default named in the proto.
// ValidateSrvp checks a config (defaults applied to a copy first) and names the offending field in
// its one-line message: "model.srvp.state_size=0: must be in [1, 4096]". Both are pure.
#pragma once

#include "proto/srvp.pb.h"
#include "util/status.h"

namespace fc::models::srvp {

void ApplySrvpDefaults(framecast::SrvpConfig* c);

Status ValidateSrvp(const framecast::SrvpConfig& c);

}  // namespace fc::models::srvp
