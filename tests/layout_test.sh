#!/usr/bin/env bash
# The layout's include rules (docs/architecture.md), checked over the tree:
#   - no core folder (common/, server/, worker/) includes grpcpp or a
#     generated *.grpc.pb.h: only rpc/ and roles/ may;
#   - dependencies point one way: cli -> roles -> {rpc, server/shard,
#     server/coordinator, worker} -> common -> proto; rpc may use the shard
#     and the coordinator; shard, coordinator and worker never include each
#     other, rpc/ or roles/; inside common/, config -> optim -> model -> data -> eval.
# It first checks itself on a made-up tree that breaks each rule, so a
# check that cannot fail fails here.
# Usage: layout_test.sh SOURCE_DIR
set -euo pipefail
source_dir="$1"

# check ROOT: prints every broken rule; exits 1 if any.
check() {
  local root="$1" bad=0 hits
  local grpc='#include [<"](grpcpp/|grpc\+\+/|grpc/|[^">]*\.grpc\.pb\.h)'
  hits=$(cd "$root" && grep -rEn "$grpc" common server worker 2>/dev/null || true)
  if [[ -n "$hits" ]]; then
    echo "core code includes gRPC (only rpc/ and roles/ may):"; echo "$hits"; bad=1
  fi
  # folder: the include prefixes it must not use
  local rules=(
    "common:server/ worker/ rpc/ roles/ cli/"
    "common/data:common/model/ common/optim/ common/config/"
    "common/model:common/optim/ common/config/"
    "common/optim:common/config/"
    "common/eval:common/data/ common/model/ common/optim/"
    "server/shard:server/coordinator/ worker/ rpc/ roles/ cli/"
    "server/coordinator:server/shard/ worker/ rpc/ roles/ cli/"
    "worker:server/ rpc/ roles/ cli/"
    "rpc:worker/ roles/ cli/"
    "roles:cli/"
  )
  local rule folder prefix
  for rule in "${rules[@]}"; do
    folder="${rule%%:*}"
    for prefix in ${rule#*:}; do
      hits=$(cd "$root" && grep -rEn "#include \"${prefix}" "$folder" 2>/dev/null || true)
      if [[ -n "$hits" ]]; then
        echo "$folder/ must not include $prefix:"; echo "$hits"; bad=1
      fi
    done
  done
  return $bad
}

# The check must catch each kind of break.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
breaks=(
  'common/a.h:#include "grpcpp/grpcpp.h"'
  'server/shard/a.h:#include "descent/v1/ps.grpc.pb.h"'
  'worker/a.cc:#include <grpcpp/server.h>'
  'server/shard/b.h:#include "server/coordinator/coordinator.h"'
  'worker/b.h:#include "rpc/rpc.h"'
  'common/b.h:#include "server/shard/parameter_shard.h"'
  'common/data/a.cc:#include "common/model/model.h"'
  'common/optim/a.cc:#include "common/config/config.h"'
)
for case in "${breaks[@]}"; do
  rm -rf "${scratch:?}"/*
  file="${case%%:*}"
  mkdir -p "$scratch/$(dirname "$file")"
  echo "${case#*:}" > "$scratch/$file"
  if check "$scratch" > /dev/null; then
    echo "FAIL: the check missed: $case"; exit 1
  fi
done

if ! check "$source_dir"; then
  echo "FAIL: the layout's include rules are broken (above)"; exit 1
fi
echo "layout: no core folder includes gRPC; dependencies point one way"
