#!/usr/bin/python3
"""Run a command inside a VM booted from a given kernel; exit with its code.

usage: tests/vm/run.py [--kernel VERSION] [--timeout S] [--mem MIB] [--rw DIR]... -- CMD ...

The VM sees the host's root filesystem read-only over 9p, tmpfs where tests
write (/tmp, /run, /var/tmp, /root), a bpffs, and the current directory at
the same path, read-only (the work tree is shared on its own too, so a tree
under /tmp stays visible); each --rw DIR is shared writable at its own path
(results out of the VM). CMD runs there as root, from the current
directory; its output goes to our stdout. VERSION names a kernel in /boot
and /lib/modules (default: the newest 6.1 one, Debian 12's).

vng (virtme-ng) is used when it is installed; otherwise qemu directly: a
small initramfs made here from busybox-static and the kernel's own virtio
and 9p modules, KVM when /dev/kvm boots the kernel, else software emulation
(TCG). Only Debian packages: qemu-system-x86, busybox-static,
linux-image-amd64 (make deps). Exits 125 when the VM cannot boot, saying so.
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))  # the work tree, shared on its own:
# under /tmp (a CI clone, say) the guest's tmpfs would hide it
BUSYBOX = "/bin/busybox"
# what the initramfs needs to mount the root over 9p (their dependencies come
# from the kernel's modules.dep)
BOOT_MODULES = ["virtio_pci", "9pnet_virtio", "9p"]
BOOT_FAILED = 125
KVM_PROBE_S = 60  # a KVM boot that shows no sign of life by then falls back to TCG

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in %(modules)s; do insmod /lib/modules/$m.ko || echo "kxvm: insmod $m failed"; done
mkdir -p /newroot
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose rootfs /newroot; then
    echo "kxvm: cannot mount the host root over 9p"; poweroff -f
fi
mount -t tmpfs tmp /newroot/tmp
mkdir -p /newroot%(top)s
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose tree /newroot%(top)s
mkdir -p /newroot/tmp/kxvm-xfer
mount -t 9p -o trans=virtio,version=9p2000.L xfer /newroot/tmp/kxvm-xfer
exec switch_root /newroot %(guest)s
"""


def log(msg):
    print("kxvm: " + msg, file=sys.stderr, flush=True)


def default_kernel():
    found = sorted(glob.glob("/boot/vmlinuz-6.1.*"), key=lambda p: [
        int(x) if x.isdigit() else x for x in re.split(r"[.-]", p)])
    if not found:
        raise SystemExit("kxvm: no 6.1 kernel in /boot: make deps installs linux-image-amd64")
    return os.path.basename(found[-1])[len("vmlinuz-"):]


def module_deps(version):
    """{module name: (path, [dependency paths])} from modules.dep."""
    base = "/lib/modules/%s/" % version
    out = {}
    with open(base + "modules.dep") as f:
        for line in f:
            path, deps = line.split(":", 1)
            name = re.sub(r"\.ko(\.xz|\.zst)?$", "", os.path.basename(path))
            out[name] = (base + path, [base + d for d in deps.split()])
    return out


def load_order(version, wanted):
    """Module paths to insmod, each after what it needs; built-ins are absent."""
    deps = module_deps(version)
    by_path = {p: n for n, (p, _) in deps.items()}
    order = []

    def visit(name):
        if name not in deps or deps[name][0] in order:
            return
        for d in reversed(deps[name][1]):  # modules.dep lists the deepest last
            visit(by_path[d])
        order.append(deps[name][0])

    for w in wanted:
        visit(w)
    return order


def build_initramfs(version, tmp, guest):
    root = os.path.join(tmp, "initramfs")
    for d in ("bin", "proc", "sys", "dev", "lib/modules", "newroot"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(BUSYBOX, os.path.join(root, "bin", "busybox"))
    loaded = []
    for path in load_order(version, BOOT_MODULES):
        if not path.endswith(".ko"):
            raise SystemExit("kxvm: %s is compressed; only plain .ko modules are supported"
                             % path)
        name = os.path.basename(path)[:-3]
        shutil.copy(path, os.path.join(root, "lib", "modules", name + ".ko"))
        loaded.append(name)
    with open(os.path.join(root, "init"), "w") as f:
        f.write(INIT % {"modules": " ".join(loaded), "guest": guest, "top": shlex.quote(TOP)})
    os.chmod(os.path.join(root, "init"), 0o755)
    out = os.path.join(tmp, "initramfs.cpio")
    files = subprocess.run(["find", "."], cwd=root, capture_output=True, text=True,
                           check=True).stdout
    with open(out, "wb") as f:
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files.encode(),
                       stdout=f, check=True)
    return out


def kvm_usable():
    return os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)


def qemu_cmd(version, initrd, xfer, mem, kvm, rw=()):
    accel = ["-accel", "kvm", "-cpu", "host"] if kvm else ["-accel", "tcg", "-cpu", "max"]
    return ["qemu-system-x86_64", *accel, "-m", str(mem), "-smp", "2", "-nographic",
            "-no-reboot", "-nic", "none", "-kernel", "/boot/vmlinuz-" + version,
            "-initrd", initrd,
            "-append", "console=ttyS0 panic=-1 quiet loglevel=3 kxvm=1",
            "-fsdev", "local,id=rootfs,path=/,security_model=none,readonly=on,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=rootfs,mount_tag=rootfs",
            "-fsdev", "local,id=tree,path=%s,security_model=none,readonly=on" % TOP,
            "-device", "virtio-9p-pci,fsdev=tree,mount_tag=tree",
            "-fsdev", "local,id=xfer,path=%s,security_model=none" % xfer,
            "-device", "virtio-9p-pci,fsdev=xfer,mount_tag=xfer",
            *[arg for i, d in enumerate(rw) for arg in (
                "-fsdev", "local,id=rw%d,path=%s,security_model=none" % (i, d),
                "-device", "virtio-9p-pci,fsdev=rw%d,mount_tag=rw%d" % (i, i))]]


def boot(cmd, xfer, timeout, probe=None):
    """Run qemu; stream its console; return (booted, timed_out). With probe,
    give up after probe seconds if the guest never started."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    os.set_blocking(p.stdout.fileno(), False)
    start = time.monotonic()
    started = os.path.join(xfer, "started")
    timed_out = False
    while p.poll() is None:
        chunk = p.stdout.read()
        if chunk:
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        elapsed = time.monotonic() - start
        if probe and not os.path.exists(started) and elapsed > probe:
            p.kill()
            break
        if elapsed > timeout:
            timed_out = True
            p.kill()
            break
        time.sleep(0.05)
    p.wait()
    rest = p.stdout.read()
    if rest:
        sys.stdout.buffer.write(rest)
        sys.stdout.flush()
    return os.path.exists(started), timed_out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel", default=None)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--mem", type=int, default=2048)
    ap.add_argument("--rw", action="append", default=[], help="a host directory shared writable")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command")
    version = a.kernel or default_kernel()
    if not os.path.exists("/boot/vmlinuz-" + version):
        raise SystemExit("kxvm: no /boot/vmlinuz-%s" % version)
    if shutil.which("vng"):
        # virtme-ng (not packaged in Debian 12, so unexercised here): it shares
        # the host root with writable overlays itself and returns the exit code
        r = subprocess.run(["vng", "--run", "/boot/vmlinuz-" + version, "--",
                            "bash", "-c", "cd %s && %s" % (shlex.quote(os.getcwd()),
                                                          shlex.join(cmd))],
                           timeout=a.timeout)
        return r.returncode
    if not shutil.which("qemu-system-x86_64"):
        raise SystemExit("kxvm: qemu-system-x86_64 missing: make deps installs qemu-system-x86")
    with tempfile.TemporaryDirectory(prefix="kxvm-") as tmp:
        xfer = os.path.join(tmp, "xfer")
        os.makedirs(xfer)
        rw = [os.path.abspath(d) for d in a.rw]
        with open(os.path.join(xfer, "cmd"), "w") as f:
            for i, d in enumerate(rw):
                f.write("mkdir -p {d} 2>/dev/null; mount -t 9p -o trans=virtio,version=9p2000.L "
                        "rw{i} {d}\n".format(i=i, d=shlex.quote(d)))
            f.write("cd %s\n%s\n" % (shlex.quote(os.getcwd()), shlex.join(cmd)))
        initrd = build_initramfs(version, tmp, os.path.join(HERE, "guest-init.sh"))
        tried = []
        for kvm in ([True, False] if kvm_usable() else [False]):
            tried.append("KVM" if kvm else "TCG")
            for name in ("started", "rc"):
                if os.path.exists(os.path.join(xfer, name)):
                    os.unlink(os.path.join(xfer, name))
            log("booting %s under %s" % (version, tried[-1]))
            booted, timed_out = boot(qemu_cmd(version, initrd, xfer, a.mem, kvm, rw), xfer,
                                     a.timeout, probe=KVM_PROBE_S if kvm else None)
            if booted:
                break
            log("%s: the kernel did not come up%s" % (
                tried[-1], "" if not kvm else "; falling back to software emulation"))
        else:
            log("the VM could not boot %s (tried %s)" % (version, ", ".join(tried)))
            return BOOT_FAILED
        if timed_out:
            log("the command ran past %.0f s: killed" % a.timeout)
            return 124
        try:
            with open(os.path.join(xfer, "rc")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            log("the VM stopped before the command finished")
            return BOOT_FAILED


if __name__ == "__main__":
    sys.exit(main())
