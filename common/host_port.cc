#include "common/host_port.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace descent {
namespace {

constexpr int kMaxPort = 65535;

bool IsHostChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '-' || c == '_';
}

absl::Status Bad(absl::string_view address, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("\"", address, "\" is not HOST:PORT: ", why));
}

// The host part: a bracketed IPv6 address, or name/IPv4 characters.
absl::Status CheckHost(absl::string_view address, absl::string_view host) {
  if (host.empty()) return Bad(address, "the host is empty");
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']' ||
        host.substr(1, host.size() - 2)
                .find_first_not_of("0123456789abcdefABCDEF:.%") !=
            absl::string_view::npos) {
      return Bad(address, "a bracketed host must be an IPv6 address");
    }
    return absl::OkStatus();
  }
  for (char c : host) {
    if (!IsHostChar(c)) {
      return Bad(address,
                 absl::StrCat("the host has a '", absl::string_view(&c, 1),
                              "' (IPv6 addresses go in brackets: [::1]:PORT)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckHostPort(absl::string_view address, bool allow_port_zero) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return Bad(address, "no :PORT");
  const absl::string_view host = address.substr(0, colon);
  const absl::string_view port = address.substr(colon + 1);
  if (absl::Status status = CheckHost(address, host); !status.ok()) {
    return status;
  }
  int value = -1;
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(port, &value) || value > kMaxPort) {
    return Bad(address, absl::StrCat("port \"", port,
                                     "\" is not a number in 0..", kMaxPort));
  }
  if (value == 0 && !allow_port_zero) {
    return Bad(address, "port 0 is for listening, not an address to dial");
  }
  return absl::OkStatus();
}

}  // namespace descent
