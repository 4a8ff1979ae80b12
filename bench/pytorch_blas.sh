# Sourced by the benchmarks that run PyTorch beside descent: Debian's
# PyTorch (CPU; python3-torch, installed on first use) with a real BLAS.
# Debian's torch links the reference libblas.so.3; this fetches
# libopenblas0-openmp with `apt-get download`, unpacks it into a temporary
# directory (nothing is installed; removed on exit) and checks that torch
# loads it when it is first on LD_LIBRARY_PATH. Sets `python` (Debian's
# own, by its full path), `openblas_dir` and `tmp`, and defines
# blas_probe; prints which BLAS torch uses with and without it.
python=/usr/bin/python3
# The peer: Debian's PyTorch (CPU), installed on first use.
if ! "${python}" -c 'import torch' 2>/dev/null; then
  echo "installing python3-torch (apt-get)" >&2
  apt-get install -y -q python3-torch >/dev/null
fi

# --- A real BLAS for PyTorch. ---
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
(
  cd "${tmp}"
  apt-get download libopenblas0-openmp >/dev/null 2>&1
  dpkg -x libopenblas0-openmp_*.deb .
)
openblas_dir="${tmp}/usr/lib/x86_64-linux-gnu/openblas-openmp"
if [[ ! -e "${openblas_dir}/libblas.so.3" ]]; then
  echo "libopenblas0-openmp did not unpack a libblas.so.3" >&2
  exit 1
fi

# Prints the BLAS torch maps and a 512^3 SGEMM rate on one thread.
blas_probe() {
  OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive "${python}" - <<'PY'
import time, torch
torch.set_num_threads(1)
a, b = torch.randn(512, 512), torch.randn(512, 512)
for _ in range(3):
    a @ b
n, start = 0, time.perf_counter()
while time.perf_counter() - start < 0.5:
    a @ b
    n += 1
gflops = 2 * 512 ** 3 * n / (time.perf_counter() - start) / 1e9
maps = {l.split()[-1] for l in open("/proc/self/maps") if "blas" in l}
print(f"{' '.join(sorted(maps)) or 'none'} ({gflops:.1f} GFLOP/s 512^3 sgemm, 1 thread)")
PY
}
echo "PyTorch BLAS without the override: $(blas_probe)"
probe="$(LD_LIBRARY_PATH="${openblas_dir}" blas_probe)"
if [[ "${probe}" != *openblas* ]]; then
  echo "torch did not load OpenBLAS: ${probe}" >&2
  exit 1
fi
echo "PyTorch BLAS used below: ${probe}"
