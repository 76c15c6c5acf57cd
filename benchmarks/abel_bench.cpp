// Standalone benchmark of the Abel kernel (no Python), for profiling with
// perf or `valgrind --tool=callgrind` (instruction counts are stable on a
// noisy machine). Also times libmvec exp alone, the unit cost behind the
// kernel's floor (transcendental calls per element x cost per call).
//
//   g++ -O3 -fno-math-errno -fopenmp -std=c++17 -Icsrc benchmarks/abel_bench.cpp -o abel_bench
//   ./abel_bench [n_elements] [repeats]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "fractional/abel.hpp"

namespace {

template <class F>
double median_seconds(F&& f, int repeats) {
  std::vector<double> t;
  f();  // warm-up
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

namespace isa_exp {
#define ZK_ISA_BODY "../../benchmarks/exp_body.inc"
#include "common/foreach_isa.hpp"
}  // namespace isa_exp

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 1000000;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 9;
  std::mt19937_64 gen(0);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> unif(-0.5, 1.0);
  std::vector<double> x(n), nn(n), y(n), dx(n), dn(n);
  for (long i = 0; i < n; ++i) {
    x[i] = normal(gen);
    nn[i] = unif(gen);
  }
  std::printf("Abel fracexp_grad, %ld float64 elements, x~N(0,1), n~U(-0.5,1), 1 thread\n", n);
  for (auto level : {zk::SimdLevel::baseline, zk::SimdLevel::v3, zk::SimdLevel::v4}) {
    if (!zk::cpu_supports(level)) continue;
    zk::simd_level_ref() = level;
    const double t = median_seconds(
        [&] {
          zk::fracexp::abel_eval<double, true>(x.data(), nn.data(), n, y.data(), dx.data(),
                                               dn.data(), n, 1);
        },
        repeats);
    const double te = median_seconds(
        [&] {
          switch (level) {
            case zk::SimdLevel::v4: isa_exp::isa_v4::exp_span(x.data(), y.data(), n); break;
            case zk::SimdLevel::v3: isa_exp::isa_v3::exp_span(x.data(), y.data(), n); break;
            default: isa_exp::isa_baseline::exp_span(x.data(), y.data(), n); break;
          }
        },
        repeats);
    std::printf("  %-8s  kernel %6.2f ns/elem   libmvec exp alone %5.2f ns/elem\n",
                zk::simd_level_name(level), t / n * 1e9, te / n * 1e9);
  }
  return 0;
}
