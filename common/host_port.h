// Checks of "HOST:PORT" addresses as flags and registrations carry them.
//
// An address is HOST:PORT where HOST is a name or IPv4 address (letters,
// digits, '.', '-', '_'), or an IPv6 address in brackets ("[::1]:7000"),
// and PORT is decimal digits only, 0..65535 (0: the system picks a free
// port, for addresses to listen on). gRPC and the metrics server would
// otherwise take "127.0.0.1:183400" as port 183400 mod 65536 and bind it
// silently, so every address is checked before it is used. Pure functions.
#ifndef DESCENT_COMMON_HOST_PORT_H_
#define DESCENT_COMMON_HOST_PORT_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace descent {

// OK if `address` is HOST:PORT as above; else INVALID_ARGUMENT saying what is
// wrong (no port, a port that is not a number or above 65535, an empty or
// malformed host), starting with `address` in quotes. `allow_port_zero`:
// whether port 0 is accepted (an address to listen on), not for an address to
// dial or advertise.
absl::Status CheckHostPort(absl::string_view address, bool allow_port_zero);

}  // namespace descent

#endif  // DESCENT_COMMON_HOST_PORT_H_
