#!/usr/bin/env bash
# Installs every Debian 12 package descent needs to build, test and run.
# Idempotent and non-interactive: packages already present are left alone,
# and apt is only asked when something is missing. Run as root.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config git
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  grpc-proto libabsl-dev libeigen3-dev prometheus-cpp-dev libgoogle-glog-dev
  zlib1g-dev libcli11-dev
  # secure aggregation: X25519, ChaCha20, AEAD (libsodium), HKDF
  # (OpenSSL), Shamir's secret sharing (libgfshare)
  libsodium-dev libssl-dev libgfshare-dev
  # descent export: the ONNX schema and library; python3-onnx checks the
  # exported models in tests
  libonnx-dev python3-onnx
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev curl
  # monitoring tests: a real Prometheus server and promtool (deploy/)
  prometheus prometheus-alertmanager
  # fuzzing (scripts/fuzz.sh): clang with libFuzzer's runtime and its
  # OpenMP
  clang-14 libclang-rt-14-dev libomp-14-dev
  # data: Fashion-MNIST as gzip'd IDX files; scikit-learn's CSV data sets
  # (breast cancer, iris) and the baseline examples/sklearn_baseline.py
  dataset-fashion-mnist python3-sklearn
)

missing=()
for package in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if (( ${#missing[@]} == 0 )); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
(( EUID == 0 )) || SUDO="sudo"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
