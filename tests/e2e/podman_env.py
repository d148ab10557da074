"""Private, rootful podman 4.3 (Debian 12) driven from Python for CNI end-to-end tests.

Podman runs inside a given network namespace (the "node") with all of its state
under one work directory.  Containers are wired by the CNI conflist(s) found in
``cni_conf_dir`` (podman's CNI backend, not netavark).  OCI runtime: runc (crun 1.8.1
refuses this VM's hybrid cgroup layout).

Paths podman 4.3 / libcni hard-code (no flag, env var or containers.conf key):
  * /run/netns/netns-<uuid>   container netns bind mounts (rootful; /run/netns is
                              also turned into a shared self-bind mount)
  * /var/lib/cni/results/<net>-<ctrid>-<ifname>   libcni result cache = prevResult
  * /sys/fs/cgroup/<ctrl>/<cgroup_parent>/...    cgroups (we use a per-run parent)
  * /var/lib/containers/cache/blob-info-cache-v1.boltdb   (containers/image, podman import)
With private_mounts=True (default) podman runs in a persistent private mount namespace
(<workdir>/mntns/mnt) in which <workdir>/netns is bind-mounted on /run/netns and
<workdir>/varlib on /var/lib (so the libcni cache is <workdir>/varlib/cni/results and the
blob-info cache <workdir>/varlib/containers/cache); nothing of it, nor the overlay/shm
mounts, appears on the host.  Note: inside that mount ns the host's /var/lib is hidden.
cleanup() removes everything belonging to this env.

Typical use (tests/e2e/test_runtime.py)::

    env = PodmanEnv(node.ns, workdir, node.cni_dir, [plugin_dir])
    env.setup(); env.import_busybox()
    env.run("a", "httpd", "-f", "-p", "80", "-h", "/www", net="kxdp", ip="12.0.2.50")
    env.in_netns("a", "ip", "addr")
    env.cleanup()
"""

import base64
import glob
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import tarfile
import time

NETNS_DIR = "/run/netns"
CNI_CACHE_DIR = "/var/lib/cni"          # libcni.CacheDir, not configurable in podman 4.3
VARLIB_CONTAINERS = "/var/lib/containers"   # containers/image blob-info cache (podman import)
CGROUP_ROOT = "/sys/fs/cgroup"
BUSYBOX = "/bin/busybox"
DEFAULT_IMAGE = "localhost/busybox:kxtest"


class PodmanError(RuntimeError):
    def __init__(self, cmd, proc):
        self.cmd, self.proc = cmd, proc
        super().__init__("command failed (rc=%s): %s\nstdout: %s\nstderr: %s" % (
            proc.returncode, " ".join(shlex.quote(c) for c in cmd),
            proc.stdout.strip(), proc.stderr.strip()))


def sh(cmd, check=True, input=None, env=None, timeout=120):
    p = subprocess.run(cmd, input=input, env=env, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise PodmanError(cmd, p)
    return p


# ---------------------------------------------------------------- namespaces

def is_mountpoint(path):
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)
    except OSError:
        return False


def mounts_under(prefix):
    """Mount points at or below prefix (deepest first)."""
    prefix = prefix.rstrip("/")
    res = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == prefix or mp.startswith(prefix + "/"):
                res.append(mp)
    return sorted(set(res), key=lambda m: (-m.count("/"), m))


# ------------------------------------------------------------------ PodmanEnv

class PodmanEnv:
    def __init__(self, node_ns, workdir, cni_conf_dir, cni_bin_dirs, runtime="runc",
                 storage_driver="overlay", default_network=None, log_level="warn",
                 podman="/usr/bin/podman", private_mounts=True):
        self.node_ns = node_ns
        self.workdir = os.path.abspath(workdir)
        self.cni_conf_dir = os.path.abspath(cni_conf_dir)
        self.cni_bin_dirs = [os.path.abspath(d) for d in cni_bin_dirs]
        self.runtime = runtime
        self.storage_driver = storage_driver
        self.default_network = default_network
        self.log_level = log_level
        self.podman_bin = podman
        w = self.workdir
        self.root = os.path.join(w, "root")
        self.runroot = os.path.join(w, "runroot")
        self.tmpdir = os.path.join(w, "tmp")
        self.imgtmp = os.path.join(w, "imgtmp")
        self.bindir = os.path.join(w, "bin")
        self.ocidir = os.path.join(w, "oci-state")
        self.containers_conf = os.path.join(w, "containers.conf")
        self.storage_conf = os.path.join(w, "storage.conf")
        self.registries_conf = os.path.join(w, "registries.conf")
        self.policy_json = os.path.join(w, "policy.json")
        # per-run cgroup parent: podman's default "/libpod_parent" would be shared
        self.cgroup_parent = "/kxdp-e2e-podman-%s" % os.path.basename(w)
        self.sandboxes = {}         # container id -> netns path (remembered for cleanup)
        self.ids = {}               # name -> container id
        self.private_mounts = private_mounts
        self.mntns = os.path.join(w, "mntns", "mnt")
        # where libcni's cache really is, seen from the host
        self.varlib = os.path.join(w, "varlib")      # private mode: /var/lib inside the mnt ns
        self.cni_cache_dir = (os.path.join(self.varlib, "cni") if private_mounts
                              else CNI_CACHE_DIR)
        self.netns_dir = os.path.join(w, "netns") if private_mounts else NETNS_DIR
        self._created_cni_cache = False
        self._created_varlib_containers = False

    # ------------------------------------------------------------ config
    def _networks_in_conf_dir(self):
        names = []
        for f in sorted(glob.glob(os.path.join(self.cni_conf_dir, "*.conflist"))):
            try:
                with open(f) as fh:
                    names.append(json.load(fh)["name"])
            except (OSError, ValueError, KeyError):
                pass
        return names

    def setup(self):
        for d in (self.workdir, self.root, self.runroot, self.tmpdir, self.imgtmp,
                  self.cni_conf_dir):
            os.makedirs(d, exist_ok=True)
        if not os.path.exists(os.path.join(NETNS_DIR, self.node_ns)):
            raise RuntimeError("node netns %s does not exist" % self.node_ns)
        if not self.private_mounts:
            # libcni / containers/image would create these; remember it for cleanup()
            self._created_cni_cache = not os.path.isdir(CNI_CACHE_DIR)
            self._created_varlib_containers = not os.path.isdir(VARLIB_CONTAINERS)
        if self.private_mounts and not is_mountpoint(self.mntns):
            for d in (os.path.dirname(self.mntns), self.cni_cache_dir, self.netns_dir,
                      os.path.join(self.varlib, "containers")):
                os.makedirs(d, exist_ok=True)
            open(self.mntns, "w").close()
            # the nsfs bind mount needs a non-shared parent mount: make the dir its own
            # private mount (no-op on this VM where / is private already)
            mdir = os.path.dirname(self.mntns)
            if not is_mountpoint(mdir):
                sh(["mount", "--bind", mdir, mdir])
                sh(["mount", "--make-private", mdir])
            # persistent mount ns (bind-mounted nsfs file); propagation private so
            # nothing mounted inside (netns binds, overlays, shm) leaks to the host.
            # Inside it /var/lib is <wd>/varlib (libcni cache -> varlib/cni, blob-info
            # cache of podman import -> varlib/containers/cache) and /run/netns is <wd>/netns.
            sh(["unshare", "--mount=" + self.mntns, "--propagation", "private", "sh", "-ec",
                "mount --bind %s /var/lib; mount --bind %s %s" % (
                    shlex.quote(self.varlib), shlex.quote(self.netns_dir), NETNS_DIR)])
        default_net = self.default_network or (self._networks_in_conf_dir() or ["kxtest"])[0]
        # OCI runtime wrapper: crun/runc keep state in /run/crun resp. /run/runc unless
        # given --root; podman's --runtime-flag is NOT propagated to the conmon exit
        # command (podman container cleanup), so bake it into a wrapper named like the
        # runtime (podman keys runtime features on the basename).
        os.makedirs(self.bindir, exist_ok=True)
        os.makedirs(self.ocidir, exist_ok=True)
        real = shutil.which(self.runtime, path="/usr/bin:/usr/sbin:/bin:/sbin")
        if not real:
            raise RuntimeError("OCI runtime %s not found" % self.runtime)
        wrapper = os.path.join(self.bindir, self.runtime)
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec %s --root %s \"$@\"\n" % (real, self.ocidir))
        os.chmod(wrapper, 0o755)
        # No CAP_SYS_RESOURCE in this VM: the runtime cannot raise a hard rlimit, but
        # rootful podman asks for nofile=1048576 and nproc=1048576 (or pid_max).  And
        # containers/common *lowers podman's own* RLIMIT_NPROC to kernel.pid_max when it
        # loads its defaults, so nproc must be <= min(current hard, pid_max).
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        with open("/proc/sys/kernel/pid_max") as f:
            pid_max = int(f.read())
        if nproc == resource.RLIM_INFINITY or nproc > pid_max:
            nproc = pid_max
        if nofile == resource.RLIM_INFINITY or nofile > 1048576:
            nofile = 1048576
        ulimits = ['"nofile=%d:%d"' % (nofile, nofile), '"nproc=%d:%d"' % (nproc, nproc)]
        q = json.dumps        # TOML basic strings == JSON strings for our paths
        conf = "\n".join([
            "# generated by podman_env.py",
            "[containers]",
            'log_driver = "k8s-file"',
            'netns = "bridge"',
            "default_ulimits = [%s]" % ", ".join(ulimits),
            "",
            "[engine]",
            'cgroup_manager = "cgroupfs"',
            'events_logger = "file"',
            "events_logfile_path = %s" % q(os.path.join(self.tmpdir, "events", "events.log")),
            'lock_type = "file"',          # default "shm" = /dev/shm/libpod_lock, shared host-wide
            "runtime = %s" % q(self.runtime),
            "tmp_dir = %s" % q(self.tmpdir),
            "static_dir = %s" % q(os.path.join(self.root, "libpod")),
            "volume_path = %s" % q(os.path.join(self.root, "volumes")),
            "image_copy_tmp_dir = %s" % q(self.imgtmp),
            "num_locks = 256",
            'pull_policy = "never"',
            'hooks_dir = []',
            "",
            "[engine.runtimes]",
            "%s = [%s]" % (self.runtime, q(wrapper)),
            "",
            "[network]",
            'network_backend = "cni"',
            "network_config_dir = %s" % q(self.cni_conf_dir),
            "cni_plugin_dirs = [%s]" % ", ".join(q(d) for d in self.cni_bin_dirs),
            # the default network must be one of OUR conflists: otherwise podman
            # synthesises "podman" (bridge cni-podman0) in memory.
            "default_network = %s" % q(default_net),
            'default_subnet = "10.250.255.0/24"',
            "",
        ])
        with open(self.containers_conf, "w") as f:
            f.write(conf)
        with open(self.storage_conf, "w") as f:
            f.write("[storage]\ndriver = %s\ngraphroot = %s\nrunroot = %s\n" % (
                q(self.storage_driver), q(self.root), q(self.runroot)))
        with open(self.registries_conf, "w") as f:
            f.write('unqualified-search-registries = []\nshort-name-mode = "disabled"\n')
        with open(self.policy_json, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)

    # ------------------------------------------------------------ podman
    def env(self):
        e = {k: v for k, v in os.environ.items()
             if k in ("PATH", "LANG", "TERM") or k.startswith("LC_")}
        e.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        e.update({
            "HOME": self.workdir,             # nothing should be read from ~root/.config
            "CONTAINERS_CONF": self.containers_conf,
            "CONTAINERS_STORAGE_CONF": self.storage_conf,
            "CONTAINERS_REGISTRIES_CONF": self.registries_conf,
            "TMPDIR": self.imgtmp,
        })
        return e

    def nsenter_node(self):
        """argv prefix: enter the node netns (and our private mount ns).  nsenter opens
        all namespace paths before calling setns(), so /run/netns/<node> is resolved
        in the host mount ns even though /run/netns is covered inside."""
        pre = ["nsenter"]
        if self.private_mounts:
            pre.append("--mount=" + self.mntns)
        return pre + ["--net=" + os.path.join(NETNS_DIR, self.node_ns)]

    def podman_argv(self, *args):
        return self.nsenter_node() + [self.podman_bin,
                "--root", self.root, "--runroot", self.runroot, "--tmpdir", self.tmpdir,
                "--storage-driver", self.storage_driver,
                "--cgroup-manager=cgroupfs", "--events-backend=file",
                "--runtime", self.runtime, "--network-config-dir", self.cni_conf_dir,
                "--log-level", self.log_level] + list(args)

    ROOT_NS_MODES = ("host", "bridge", "slirp4netns", "pasta", "podman", "default")

    def _guard(self, args, host_network=False):
        """Safety net for run/create: refuse network modes that touch the root netns
        (podman's own default network would create bridge cni-podman0; slirp4netns and
        host use the root ns) and force our per-run cgroup parent (podman's default
        /libpod_parent is shared with every other podman user on the machine)."""
        args = list(args)
        if not args or args[0] not in ("run", "create"):
            return args
        # scan everything (a false positive in the container's command only raises)
        for i, a in enumerate(args):
            val = None
            if a in ("--network", "--net") and i + 1 < len(args):
                val = args[i + 1]
            elif a.startswith("--network=") or a.startswith("--net="):
                val = a.split("=", 1)[1]
            if host_network and val == "host":  # podman runs in the node's netns: the node's
                continue
            if val is not None and val.split(":")[0] in self.ROOT_NS_MODES:
                raise ValueError("refusing --network %s (podman's default network / host / "
                                 "slirp4netns are not allowed here)" % val)
        if not any(a.startswith("--cgroup-parent") or a.startswith("--cgroups") for a in args):
            args[1:1] = ["--cgroup-parent", self.cgroup_parent]
        return args

    def podman(self, *args, check=True, timeout=120, input=None, host_network=False):
        """host_network: --network host is allowed, and means the node's netns
        (podman runs inside it), as a hostNetwork pod has its node's."""
        return sh(self.podman_argv(*self._guard(args, host_network)), check=check,
                  env=self.env(), timeout=timeout, input=input)

    def in_mount_ns(self, *cmd, check=True, timeout=120, input=None, env=None):
        """A host command in podman's mount namespace and the node's netns: the
        "host" the containers see (for what a kubelet does beside them)."""
        return sh(self.nsenter_node() + list(cmd), check=check, timeout=timeout, input=input,
                  env=env)

    # ------------------------------------------------------------ image
    def import_busybox(self, tag=DEFAULT_IMAGE):
        rootfs = os.path.join(self.workdir, "rootfs")
        if os.path.exists(rootfs):
            shutil.rmtree(rootfs)
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp",
                  "root", "run", "var/tmp", "www"):
            os.makedirs(os.path.join(rootfs, d), exist_ok=True)
        os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
        shutil.copy2(BUSYBOX, os.path.join(rootfs, "bin/busybox"))
        applets = sh([BUSYBOX, "--list-full"]).stdout.split()
        for a in applets:                      # e.g. "usr/bin/wget", "sbin/ip"
            dst = os.path.join(rootfs, a)
            if a == "bin/busybox" or os.path.lexists(dst):
                continue
            os.symlink("/bin/busybox", dst)
        files = {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
            "etc/group": "root:x:0:\nnogroup:x:65534:\n",
            "etc/hosts": "127.0.0.1 localhost\n",
            "etc/resolv.conf": "",
            "www/index.html": "hello from kxtest\n",
        }
        for p, txt in files.items():
            with open(os.path.join(rootfs, p), "w") as f:
                f.write(txt)
        tar_path = os.path.join(self.workdir, "busybox-rootfs.tar")
        with tarfile.open(tar_path, "w") as t:
            for entry in sorted(os.listdir(rootfs)):
                t.add(os.path.join(rootfs, entry), arcname=entry)
        self.podman("import", "--signature-policy", self.policy_json,
                    "--change", 'CMD ["/bin/sh"]', tar_path, tag, timeout=300)
        return tag

    # ------------------------------------------------------------ containers
    def run(self, name, *cmd, net=None, ip=None, mac=None, ports=(), image=DEFAULT_IMAGE,
            extra=(), detach=True, timeout=120):
        """podman run -d --name NAME --network NET [--ip] [--mac-address] [-p ...] IMAGE CMD..."""
        net = net or self.default_network or self._networks_in_conf_dir()[0]
        a = ["run", "--name", name, "--network", net, "--pull=never"]
        if detach:
            a.append("-d")
        if ip:
            a += ["--ip", ip]
        if mac:
            a += ["--mac-address", mac]
        for p in ports:
            a += ["-p", str(p)]
        a += list(extra) + [image] + list(cmd)
        out = self.podman(*a, timeout=timeout).stdout.strip()
        self._remember(name)
        return out.splitlines()[-1] if detach and out else out

    def _remember(self, name):
        p = self.podman("inspect", "--format",
                        "{{.Id}} {{.NetworkSettings.SandboxKey}}", name, check=False)
        if p.returncode == 0 and p.stdout.strip():
            parts = p.stdout.split()
            self.ids[name] = parts[0]
            if len(parts) > 1 and parts[1]:
                self.sandboxes[parts[0]] = parts[1]

    def exec(self, name, *cmd, check=True, timeout=60):
        return self.podman("exec", name, *cmd, check=check, timeout=timeout).stdout

    def netns_argv(self, name):
        """argv prefix running a host binary in the container's netns (full root
        caps, unlike podman exec whose default caps lack CAP_NET_ADMIN)."""
        path = self.netns_path(name)
        if self.private_mounts:    # the path only resolves inside our mount ns
            return ["nsenter", "--mount=" + self.mntns, "--", "nsenter", "--net=" + path]
        return ["nsenter", "--net=" + path]

    def in_netns(self, name, *cmd, check=True, timeout=120):
        return sh(self.netns_argv(name) + list(cmd), check=check, timeout=timeout)

    def netns_exists(self, sandbox_key):
        """Does podman's netns file (a SandboxKey like /run/netns/netns-...) exist?"""
        return os.path.lexists(os.path.join(self.netns_dir, os.path.basename(sandbox_key)))

    def inspect(self, name):
        return json.loads(self.podman("inspect", name).stdout)[0]

    def state(self, name):
        return self.podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()

    def ip(self, name, net=None):
        nets = self.inspect(name)["NetworkSettings"]["Networks"]
        return nets[net or next(iter(nets))]["IPAddress"]

    def netns_path(self, name):
        self._remember(name)
        return self.inspect(name)["NetworkSettings"]["SandboxKey"]

    def rm(self, name, timeout=60):
        self._remember(name)
        return self.podman("rm", "-f", "-t", "0", name, timeout=timeout)

    def stop(self, name):
        return self.podman("stop", "-t", "0", name)

    def restart(self, name):
        r = self.podman("restart", "-t", "0", name)
        self._remember(name)
        return r

    def wait_state(self, name, want="exited", timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if self.state(name) == want:
                return True
            time.sleep(0.2)
        return False

    # ------------------------------------------------------------ CNI CHECK
    def cni_cache_file(self, name, net=None, ifname="eth0"):
        cid = self.ids.get(name) or self.inspect(name)["Id"]
        net = net or next(iter(self.inspect(name)["NetworkSettings"]["Networks"]))
        return os.path.join(self.cni_cache_dir, "results", "%s-%s-%s" % (net, cid, ifname))

    def cni_cached(self, name, net=None, ifname="eth0"):
        with open(self.cni_cache_file(name, net, ifname)) as f:
            c = json.load(f)
        c["config_decoded"] = json.loads(base64.b64decode(c["config"]))
        return c

    def cni_check(self, name, net=None, ifname="eth0", command="CHECK", only=None,
                  stop_on_error=False):
        """Run CNI CHECK (what libcni.CheckNetworkList does; podman 4.3 never does it) for
        every plugin of the *cached* conflist, with the cached prevResult, cniArgs and
        capabilityArgs.  Plugins run in the node netns.  only=["ptp"] restricts the
        plugins (portmap 1.1.1's CHECK is broken without IPv6: plugins issue #819).
        Returns list of (plugin type, returncode, stdout, stderr)."""
        c = self.cni_cached(name, net, ifname)
        conf = c["config_decoded"]
        netns = self.netns_path(name)
        cni_args = ";".join("%s=%s" % (k, v) for k, v in c.get("cniArgs") or [])
        out = []
        for plugin in conf["plugins"]:
            if only and plugin["type"] not in only:
                continue
            pc = dict(plugin)
            pc["name"], pc["cniVersion"] = conf["name"], conf["cniVersion"]
            pc["prevResult"] = c["result"]
            rc = {k: c["capabilityArgs"][k]
                  for k, on in (plugin.get("capabilities") or {}).items()
                  if on and k in (c.get("capabilityArgs") or {})}
            if rc:
                pc["runtimeConfig"] = rc
            exe = next((os.path.join(d, plugin["type"]) for d in self.cni_bin_dirs
                        if os.access(os.path.join(d, plugin["type"]), os.X_OK)), None)
            env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=c["containerId"],
                       CNI_NETNS=netns, CNI_IFNAME=c["ifName"], CNI_ARGS=cni_args,
                       CNI_PATH=":".join(self.cni_bin_dirs))
            p = sh(self.nsenter_node() + [exe],
                   check=False, input=json.dumps(pc), env=env)
            out.append((plugin["type"], p.returncode, p.stdout, p.stderr))
            if p.returncode != 0 and stop_on_error:
                break
        return out

    # ------------------------------------------------------------ cleanup
    def _our_pids(self):
        """conmon/podman/runtime processes of this env (their argv mentions our workdir)
        and anything living in our cgroups (container processes).  Never our ancestors."""
        ancestors, pid = set(), os.getpid()
        while pid > 1:
            ancestors.add(pid)
            try:
                with open("/proc/%d/stat" % pid) as f:
                    pid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                break
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) in ancestors:
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv = f.read().split(b"\0")
                with open("/proc/%s/cgroup" % d) as f:
                    cg = f.read()
            except OSError:
                continue
            prog = os.path.basename(argv[0]).decode(errors="replace") if argv else ""
            mine = (prog in ("conmon", "podman", "runc", "crun", "nsenter", "sh")
                    and any(self.workdir.encode() in a for a in argv))
            if mine or (":%s/" % self.cgroup_parent) in cg:
                pids.append(int(d))
        return pids

    def cleanup(self):
        """Remove every trace: containers, conmon, netns files, CNI cache, cgroups,
        mounts and the work dir.  Safe to call repeatedly / after failures."""
        errors = []
        if os.path.exists(self.containers_conf):
            p = self.podman("ps", "-a", "--format", "{{.ID}} {{.Names}}", check=False)
            for line in p.stdout.splitlines():
                if line.split():
                    self._remember(line.split()[-1])
            p = self.podman("rm", "-a", "-f", "-t", "0", check=False, timeout=120)
            if p.returncode:
                errors.append(p.stderr.strip())
        # give exit-command cleanups a moment, then kill leftovers (by pid only)
        for _ in range(20):
            if not self._our_pids():
                break
            time.sleep(0.25)
        for pid in self._our_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _ in range(40):              # killed tasks leave their cgroups asynchronously
            if not self._our_pids():
                break
            time.sleep(0.1)
        if self.private_mounts:
            # dropping the last reference to the mount ns drops every mount in it
            # (container netns binds, overlay, shm) at once
            for mp in (self.mntns, os.path.dirname(self.mntns)):
                if is_mountpoint(mp):
                    sh(["umount", mp], check=False)
        else:
            # container netns files under /run/netns that podman did not remove
            for cid, path in self.sandboxes.items():
                if path and os.path.lexists(path):
                    sh(["umount", path], check=False)
                    try:
                        os.unlink(path)
                    except OSError as e:
                        errors.append("%s: %s" % (path, e))
                for f in glob.glob(os.path.join(CNI_CACHE_DIR, "results", "*-%s-*" % cid)):
                    os.unlink(f)
        # mounts inside the work dir (storage overlay self-bind, container rootfs, shm)
        for _ in range(3):
            for mp in mounts_under(self.workdir):
                sh(["umount", mp], check=False)
            if not mounts_under(self.workdir):
                break
        for mp in mounts_under(self.workdir):
            sh(["umount", "-l", mp], check=False)
        # cgroups
        for hier in glob.glob(os.path.join(CGROUP_ROOT, "*")):
            top = os.path.join(hier, self.cgroup_parent.lstrip("/"))
            if not os.path.isdir(top):
                continue
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
                try:
                    os.rmdir(dirpath)
                except OSError as e:
                    errors.append("rmdir %s: %s" % (dirpath, e))
        # shared dirs that only existed because of us
        if self._created_cni_cache and os.path.isdir(CNI_CACHE_DIR):
            for d in (os.path.join(CNI_CACHE_DIR, "results"), CNI_CACHE_DIR):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        if self._created_varlib_containers and os.path.isdir(VARLIB_CONTAINERS):
            bic = os.path.join(VARLIB_CONTAINERS, "cache", "blob-info-cache-v1.boltdb")
            if os.path.exists(bic):
                os.unlink(bic)
            for d in (os.path.join(VARLIB_CONTAINERS, "cache"), VARLIB_CONTAINERS):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        if os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)
            if os.path.exists(self.workdir):
                errors.append("could not remove %s" % self.workdir)
        return errors


def podman_teardown(procs, env, *others):
    """A podman fixture's end: its helper processes, then env (containers,
    mounts, cgroups, files), then others (nodes, hosts, the fabric, in that
    order: each has cleanup()), all of them even when one fails; then any
    leftover podman reported."""
    for p in procs:
        p.kill()
        p.wait()
    errors = env.cleanup() if env else []
    for x in others:
        if x:
            x.cleanup()
    assert not errors, errors

