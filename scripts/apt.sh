# Sourced by bootstrap.sh: install Debian packages, waiting for a package manager that is busy.
# A fresh machine runs unattended upgrades for minutes after boot: wait for the package lock (up
# to CITYOPS_APT_WAIT seconds) instead of failing at once on "Could not get lock".
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
updated=false
apt_wait=(-o "DPkg::Lock::Timeout=${CITYOPS_APT_WAIT:-900}")
apt_install() {
  if [ "$updated" = false ]; then $sudo apt-get "${apt_wait[@]}" update -q >/dev/null; updated=true; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get "${apt_wait[@]}" install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confold "$@" >/dev/null
}
