#!/usr/bin/env bash
# A lesson's Gradescope autograder, tried end to end on a fresh Ubuntu 24.04 root filesystem, as
# Gradescope runs it: the zip unpacked into /autograder/source, setup.sh once as root, then for each
# submission /autograder/run_autograder writing /autograder/results/results.json.
#
#   sudo benchmarks/gradescope_image.sh [LESSON] [WORK]      (defaults: 01, /tmp/gradescope-image)
#
# Needs root, debootstrap, unzip, gpg and the course's .venv. WORK keeps the debootstrapped base (a rerun
# skips debootstrap; each run copies it, so setup.sh always meets a fresh image and downloads afresh).
# UNSANDBOXED=1 builds the zip with --unsandboxed; COURSE_DATA_DIR (needed for lesson 05) is bundled with --data.
# Exits non-zero unless the solution scores the maximum and the untouched student copy scores 0.
set -euo pipefail
lesson="${1:-01}"
work="$(mkdir -p "${2:-/tmp/gradescope-image}" && cd "${2:-/tmp/gradescope-image}" && pwd)"
repo="$(cd "$(dirname "$0")/.." && pwd)"
base="$work/noble-base" rootfs="$work/rootfs"
mirror=http://archive.ubuntu.com/ubuntu
ubuntu_key=F6ECB3762474EDA9D21B7022871920D1991BC93C  # Ubuntu Archive Automatic Signing Key (2018)
say() { printf '\n== %s\n' "$*"; }
clock() { local start=$SECONDS; "$@"; say "$1 ${*:2}: $((SECONDS - start)) s"; }

# 1. The zip, built by the course's own command.
args=(autograder "$lesson" "$work/zip")
[ "$lesson" = 05 ] && : "${COURSE_DATA_DIR:?lesson 05 needs COURSE_DATA_DIR (its tweets)}"
[ -n "${COURSE_DATA_DIR:-}" ] && args+=(--data "$COURSE_DATA_DIR")  # else setup.sh downloads what it can
[ "${UNSANDBOXED:-0}" = 1 ] && args+=(--unsandboxed)
rm -rf "$work/zip"
(cd "$repo" && .venv/bin/python -m course_tools "${args[@]}")
zip=$(ls "$work"/zip/*-autograder.zip)

# 2. Ubuntu 24.04 (noble), minbase like Docker's ubuntu image; universe for bubblewrap. This Debian has
# neither noble's debootstrap script (gutsy's serves every Ubuntu) nor Ubuntu's keyring: the keyring comes
# from Ubuntu's archive, trusted only if it holds Ubuntu's archive key by its fingerprint.
if [ ! -e "$base/.complete" ]; then
    keyring="$work/ubuntu-keyring"
    rm -rf "$keyring" "$base" && mkdir -p "$keyring"
    curl -fsSo "$keyring/k.deb" "$mirror/pool/main/u/ubuntu-keyring/ubuntu-keyring_2023.11.28.1_all.deb"
    dpkg-deb -x "$keyring/k.deb" "$keyring"
    gpg --no-default-keyring --keyring "$keyring/usr/share/keyrings/ubuntu-archive-keyring.gpg" \
        --with-colons --list-keys 2>/dev/null | grep -q "^fpr:*$ubuntu_key:" || { echo "bad Ubuntu keyring" >&2; exit 1; }
    clock debootstrap --variant=minbase --components=main,universe \
        --keyring="$keyring/usr/share/keyrings/ubuntu-archive-keyring.gpg" \
        noble "$base" "$mirror" /usr/share/debootstrap/scripts/gutsy
    touch "$base/.complete"
fi

# Unmount all that is mounted under the root, deepest first, whatever happens (lazily if something holds it).
mounts() { awk -v r="$rootfs" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/self/mounts | sort -r; }
cleanup() { local m; for m in $(mounts); do umount "$m" 2>/dev/null || umount -l "$m"; done; }
trap cleanup EXIT
cleanup
[ -z "$(mounts)" ] || { echo "still mounted under $rootfs: $(mounts)" >&2; exit 1; }  # never rm -rf a bound /dev
rm -rf "$rootfs" && cp -a "$base" "$rootfs"
# The root bound onto itself: a chroot whose / is a mount point, as a container's is. bubblewrap needs it:
# in a plain chroot it stops at "Failed to make / slave: Invalid argument" (/ is no mount point there).
# A chrooted process may not create user namespaces (EPERM) either, so only root's sandbox (setpriv to
# course-student, no user namespace) works in a chroot; run_autograder runs as root, as on Gradescope.
mount --bind "$rootfs" "$rootfs" && mount --make-private "$rootfs"
mount -t proc proc "$rootfs/proc"
mount -t sysfs sys "$rootfs/sys"
mount --rbind /dev "$rootfs/dev" && mount --make-rslave "$rootfs/dev"  # with /dev/pts and /dev/shm
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
# This machine reaches PyPI through a TLS-inspecting proxy: its CA bundle goes in, named by PIP_CERT and
# SSL_CERT_FILE (Gradescope needs neither).
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/host-ca-bundle.crt"
mkdir -p "$rootfs/autograder/source" && unzip -q "$zip" -d "$rootfs/autograder/source"

# Commands in the image as Gradescope runs them: root, a plain environment, no terminal.
in_image() {
    ${OFFLINE:+unshare --net} chroot "$rootfs" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 PIP_CERT=/etc/host-ca-bundle.crt SSL_CERT_FILE=/etc/host-ca-bundle.crt "$@" </dev/null
}

# 3. setup.sh, once.
say "setup.sh on $(. "$rootfs/etc/os-release" && echo "$PRETTY_NAME")"
clock in_image bash -c 'cd /autograder/source && bash setup.sh'
cp "$rootfs/autograder/source/run_autograder" "$rootfs/autograder/run_autograder"  # Gradescope copies it there
chmod 755 "$rootfs/autograder/run_autograder"

# 4. One submission: NOTEBOOK in /autograder/submission, run_autograder, the score checked against WANT.
grade() {  # NOTEBOOK WANT (max or 0)
    rm -rf "$rootfs/autograder/submission" "$rootfs/autograder/results"
    mkdir -p "$rootfs/autograder/submission" "$rootfs/autograder/results"
    cp "$1" "$rootfs/autograder/submission/"
    say "run_autograder on $(basename "$1")"
    # With no network (OFFLINE: a new network namespace), stricter than Gradescope: nothing is downloaded per submission.
    OFFLINE=1 clock in_image bash -c 'cd /autograder && /autograder/run_autograder' || true  # results.json tells
    "$repo/.venv/bin/python" - "$rootfs/autograder/results/results.json" "$2" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))
top = sum(test["max_score"] for test in results["tests"])
for test in results["tests"]:
    print(f"  {test['status']:7} {test['score']:g}/{test['max_score']:g}  {test['name']}")
print(f"score {results['score']:g} of {top:g}; {results['execution_time']} s\n{results['output']}")
sys.exit(results["score"] != (top if sys.argv[2] == "max" else 0))
EOF
}
status=0
grade "$(ls "$repo"/solutions/"$lesson"_*.ipynb)" max || status=1
grade "$(ls "$repo"/notebooks/"$lesson"_*.ipynb)" 0 || status=1
say "disk: $(du -shx "$rootfs" | cut -f1) image, $(du -shx "$rootfs/autograder/venv" | cut -f1) of it the venv"
exit $status
