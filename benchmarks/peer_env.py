"""The machine facts both peer scripts print beside their timings (CPU, SIMD flags,
the checkout's commit, the hypervisor's steal time). Not part of the package."""
import subprocess


def cpu_model():
    """'model name (family f model m)': the package's own rule (both scripts import it)."""
    from zenkai_np._config import cpu_model as model
    return model()


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return "/".join(x for x in ("avx2", "fma", "avx512f") if x in flags)
    except OSError:
        pass
    return "?"


def git_head(path):
    try:
        return subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"


def cpu_ticks():
    """(steal, total) jiffies of all CPUs from /proc/stat, or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[7], sum(v[:8])
    except (OSError, IndexError, ValueError):
        return None
