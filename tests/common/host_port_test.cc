#include "common/host_port.h"

#include <string>

#include "gtest/gtest.h"

namespace descent {
namespace {

TEST(CheckHostPort, AcceptsNamesIpv4AndBracketedIpv6) {
  for (const char* address : {"127.0.0.1:7000", "localhost:0", "[::1]:65535",
                              "worker-3.example.com:80", "0.0.0.0:1"}) {
    EXPECT_TRUE(CheckHostPort(address, /*allow_port_zero=*/true).ok())
        << address;
  }
}

TEST(CheckHostPort, RefusesPortsOutOfRangeOrNotNumeric) {
  struct Case {
    const char* address;
    const char* problem;
  };
  for (const Case& c :
       {Case{"127.0.0.1:183400", "port \"183400\""},
        Case{"127.0.0.1:65536", "port \"65536\""},
        Case{"127.0.0.1:-1", "port \"-1\""}, Case{"127.0.0.1:x", "port \"x\""},
        Case{"127.0.0.1:", "port \"\""}, Case{"127.0.0.1: 80", "port \" 80\""},
        Case{"127.0.0.1", "no :PORT"}, Case{":7000", "the host is empty"},
        Case{"::1:7000", "brackets"}, Case{"[zz]:7000", "IPv6"}}) {
    const absl::Status status = CheckHostPort(c.address, true);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.address;
    EXPECT_NE(std::string(status.message()).find(c.problem), std::string::npos)
        << c.address << ": " << status.message();
  }
}

TEST(CheckHostPort, PortZeroOnlyWhereAllowed) {
  EXPECT_TRUE(CheckHostPort("127.0.0.1:0", true).ok());
  EXPECT_EQ(CheckHostPort("127.0.0.1:0", false).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace descent
