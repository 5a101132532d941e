#!/usr/bin/env bash
# Makes `docker` and `docker-compose` work on a build machine that has the docker client but no
# Docker engine and no reachable container registry (this project's CI machines):
#  - installs podman (daemonless engine with a Docker-compatible API), runc, debootstrap and
#    docker-compose 1.29 from Debian's packages;
#  - sets podman's defaults to what such a sandbox allows (runc runtime, modest ulimits);
#  - serves podman's Docker API on unix:///run/podman/podman.sock (a background process);
#  - makes local stand-ins for the public images docker-compose.yml names, since none can be pulled:
#      node:20-bookworm-slim  Debian bookworm minbase + this machine's Node 20 and npm, user `node` (uid 1000)
#      redis:7-bookworm       Debian bookworm minbase + Debian's redis-server 7 (CMD redis-server)
#      haproxy:2.6-bookworm   Debian bookworm minbase + Debian's haproxy 2.6, laid out like the
#                             official image (config at /usr/local/etc/haproxy/haproxy.cfg, user haproxy)
#      mariadb:11.8           Debian trixie minbase + Debian's mariadb-server 11.8, with an entry
#                             point that, like the official image's, initialises an empty volume from
#                             MARIADB_ROOT_PASSWORD, MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD
# Where a registry is reachable none of this is needed: the real images are pulled instead.
# Vendored from the machine image's tools/container-setup.sh (plus the haproxy stand-in) so that a
# clean clone's .ci/run does not depend on files outside the repository.
# Idempotent: ~4 minutes the first time on a new machine, a second afterwards.
#
# Then, in the same shell:
#   export DOCKER_HOST=unix:///run/podman/podman.sock
set -euo pipefail

need=()
for p in podman runc debootstrap docker-compose; do command -v "$p" >/dev/null || need+=("$p"); done
command -v docker >/dev/null || need+=(docker.io)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p /etc/containers/containers.conf.d
cat > /etc/containers/containers.conf.d/50-sandbox.conf <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
CONF

sock=/run/podman/podman.sock
# A service left running from a directory since deleted answers `docker version` but starts no
# container: stop it, so a fresh one starts below.
for pid in $(pgrep -f "podman system service" || true); do
  case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in
    *" (deleted)")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      ;;
  esac
done
if ! DOCKER_HOST=unix://$sock timeout 5 docker version >/dev/null 2>&1; then
  mkdir -p /run/podman
  # From /: the service outlives this shell, and conmon fails every container start ("write child:
  # broken pipe", "Failed to get working directory") once the directory it started in is deleted
  # (a CI clone removed after its run).
  (cd / && setsid podman system service --time=0 "unix://$sock" >/var/log/podman-service.log 2>&1 < /dev/null &)
  for _ in $(seq 50); do DOCKER_HOST=unix://$sock timeout 2 docker version >/dev/null 2>&1 && break; sleep 0.2; done
fi

cache=/var/tmp/container-rootfs
minbase() { # $1: target dir, $2: Debian release (default bookworm)
  if [ ! -x "$1/bin/sh" ]; then
    rm -rf "$1"; mkdir -p "$(dirname "$1")"
    debootstrap --variant=minbase "${2:-bookworm}" "$1" http://deb.debian.org/debian >/dev/null
  fi
  # The package registries are reached through a proxy with its own CA: carry the bundle in.
  mkdir -p "$1/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"
}
apt_in() { # $1: root, rest: packages
  local r=$1; shift
  chroot "$r" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $*" >/dev/null 2>&1
}

node_img=docker.io/library/node:20-bookworm-slim
if ! podman image exists "$node_img"; then
  r=$cache/node
  minbase "$r"
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  install -m 0755 "$(readlink -f "$(command -v node)")" "$r/usr/local/bin/node"
  mkdir -p "$r/usr/local/lib/node_modules"
  rm -rf "$r/usr/local/lib/node_modules/npm"
  cp -a "$npm_dir" "$r/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
  grep -q '^node:' "$r/etc/group" || chroot "$r" groupadd --gid 1000 node
  grep -q '^node:' "$r/etc/passwd" || chroot "$r" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  tar -C "$r" -c . | podman import \
    --change 'ENV NODE_VERSION=20' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' - "$node_img" >/dev/null
fi

redis_img=docker.io/library/redis:7-bookworm
if ! podman image exists "$redis_img"; then
  r=$cache/redis
  minbase "$r"
  if [ ! -x "$r/usr/bin/redis-server" ]; then
    apt_in "$r" redis-server
    mkdir -p "$r/data"
  fi
  tar -C "$r" -c . | podman import \
    --change 'WORKDIR /data' \
    --change 'EXPOSE 6379' \
    --change 'CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no"]' - "$redis_img" >/dev/null
fi

haproxy_img=docker.io/library/haproxy:2.6-bookworm
if ! podman image exists "$haproxy_img"; then
  r=$cache/haproxy
  minbase "$r"
  if [ ! -x "$r/usr/sbin/haproxy" ]; then
    apt_in "$r" haproxy
    # The official image reads its config from here and runs as user haproxy.
    mkdir -p "$r/usr/local/etc/haproxy" "$r/var/lib/haproxy"
    chroot "$r" chown haproxy:haproxy /var/lib/haproxy
  fi
  tar -C "$r" -c . | podman import \
    --change 'USER haproxy' \
    --change 'STOPSIGNAL SIGUSR1' \
    --change 'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' - "$haproxy_img" >/dev/null
fi

# MariaDB 11.8 (the current long-term release) is Debian trixie's: the stand-in is a trixie minbase.
mariadb_img=docker.io/library/mariadb:11.8
if ! podman image exists "$mariadb_img"; then
  r=$cache/mariadb11
  minbase "$r" trixie
  [ -x "$r/usr/sbin/mariadbd" ] || apt_in "$r" mariadb-server
  # The package's own first install made a data directory: the entry point makes the image's.
  rm -rf "$r/var/lib/mysql"/*
  cat > "$r/usr/local/bin/docker-entrypoint.sh" <<'ENTRY'
#!/bin/sh
# Stand-in for the official image's entry point: first start on an empty data directory creates
# the system tables, root's password, one database and one user; then mariadbd runs as mysql.
set -eu
datadir=/var/lib/mysql
install -d -o mysql -g mysql /run/mysqld "$datadir"
if [ ! -d "$datadir/mysql" ]; then
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock &
  pid=$!
  i=0
  until mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 300 ] || { echo "mariadb did not start" >&2; exit 1; }; sleep 0.2
  done
  mariadb --socket=/run/mysqld/init.sock <<SQL
ALTER USER root@localhost IDENTIFIED BY '${MARIADB_ROOT_PASSWORD}';
CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER '${MARIADB_USER}'@'%' IDENTIFIED BY '${MARIADB_PASSWORD}';
CREATE USER '${MARIADB_USER}'@'localhost' IDENTIFIED BY '${MARIADB_PASSWORD}';
GRANT ALL ON \`${MARIADB_DATABASE}\`.* TO '${MARIADB_USER}'@'%';
GRANT ALL ON \`${MARIADB_DATABASE}\`.* TO '${MARIADB_USER}'@'localhost';
SQL
  kill "$pid"
  wait "$pid" || true
fi
if [ "${1:-}" = mariadbd ]; then shift; exec mariadbd --user=mysql --datadir="$datadir" "$@"; fi
exec "$@"
ENTRY
  chmod 0755 "$r/usr/local/bin/docker-entrypoint.sh"
  tar -C "$r" -c . | podman import \
    --change 'EXPOSE 3306' \
    --change 'STOPSIGNAL SIGTERM' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["mariadbd", "--bind-address=0.0.0.0"]' - "$mariadb_img" >/dev/null
fi

echo "ready: export DOCKER_HOST=unix://$sock  (images: $node_img, $redis_img, $haproxy_img, $mariadb_img)"
