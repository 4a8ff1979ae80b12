// ProtoJson: a message as JSON that reads back with protobuf's
// JsonStringToMessage, written for people and scripts:
//
//   - field names as in the .proto file;
//   - integers of every width as JSON numbers (protobuf's printer writes
//     int64 and uint64 as strings), doubles and floats as the shortest
//     text that reads back to the same value, NaN and infinities as the
//     strings "NaN", "Infinity" and "-Infinity" (as protobuf's JSON
//     mapping does), enums by name, bytes in base64;
//   - only the fields that apply: a field with presence (a message, an
//     `optional` scalar, a oneof member) only when set, a repeated field
//     only when not empty, every other scalar always (0 is then a value).
//
// Fields in declaration order, one space of indentation a level (as
// protobuf's printer), a final newline.
// Thread-safe.
#ifndef DESCENT_SERVER_COORDINATOR_PROTO_JSON_H_
#define DESCENT_SERVER_COORDINATOR_PROTO_JSON_H_

#include <string>

#include "google/protobuf/message.h"

namespace descent {

std::string ProtoJson(const google::protobuf::Message& message);

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_PROTO_JSON_H_
