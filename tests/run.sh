#!/usr/bin/env bash
# The whole test suite, as README.md documents it and .ci/run calls it.
#
# It first installs what the tests need and the machine lacks (Chromium and chromedriver for
# the page tests, PostgreSQL and Redis for the store, replica and fault tests, from Debian
# packages, rsyslog as the SIEM feed's collector, Apache with mod_auth_openidc as a relying
# application, nginx as the load balancer of three replicas; aiosmtpd for the SMTP tests and Authlib with
# Flask as a third-party relying application, from PyPI; express-openid-connect, another, and axe-core for the accessibility checks, from
# npm), checks formatting and clippy's lints,
# then runs every test of the workspace
# with cargo-nextest (or cargo test where nextest is absent), the benchmark's short runs
# included. The tests start their own PostgreSQL and Redis servers in temporary folders on
# free loopback ports. Nothing has to be installed or started by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
[ -x /usr/bin/chromium ] || need_packages+=(chromium)
[ -x /usr/bin/chromedriver ] || need_packages+=(chromium-driver)
command -v redis-server >/dev/null 2>&1 || need_packages+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_packages+=(postgresql)
# The SIEM feed's fault test forwards traces to a real syslog collector.
[ -x /usr/sbin/rsyslogd ] || need_packages+=(rsyslog)
# Apache with mod_auth_openidc is a third-party relying application of the interoperability tests.
[ -x /usr/sbin/apache2 ] || need_packages+=(apache2)
[ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] || need_packages+=(libapache2-mod-auth-openidc)
# nginx is the load balancer in front of three replicas in the test that kills two of them.
[ -x /usr/sbin/nginx ] || need_packages+=(nginx)
if [ ${#need_packages[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${need_packages[*]} for the page tests" >&2
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_packages[@]}" >/dev/null
    # The tests start their own Apache; the package's may have started on port 80.
    service apache2 stop >/dev/null 2>&1 || true
    service nginx stop >/dev/null 2>&1 || true
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >/dev/null
  else
    echo "tests/run.sh: cannot install ${need_packages[*]}: run as root or install them" >&2
    exit 1
  fi
fi

# aiosmtpd plays the SMTP relay in the mail delivery tests.
if ! python3 -c "import aiosmtpd" 2>/dev/null; then
  echo "tests/run.sh: installing aiosmtpd for the SMTP tests" >&2
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --user aiosmtpd \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages aiosmtpd
fi

# Authlib (with Flask) is the third-party relying application the interoperability tests drive.
if ! python3 -c "import authlib, flask, requests" 2>/dev/null; then
  echo "tests/run.sh: installing Authlib and Flask for the relying-party tests" >&2
  python3 -m pip install --quiet --disable-pip-version-check "authlib>=1.3,<2" "flask>=3,<4" "requests>=2,<3" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --user "authlib>=1.3,<2" "flask>=3,<4" "requests>=2,<3" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "authlib>=1.3,<2" "flask>=3,<4" "requests>=2,<3"
fi

# express-openid-connect (with Express) is the Node relying application of the same tests.
RP_NODE_DIR=target/rp-node
if [ ! -d "$RP_NODE_DIR/node_modules/express-openid-connect" ]; then
  echo "tests/run.sh: installing express-openid-connect for the relying-party tests" >&2
  mkdir -p "$RP_NODE_DIR"
  npm install --prefix "$RP_NODE_DIR" --no-save --no-audit --no-fund --silent express@4 express-openid-connect@2 >/dev/null
fi

# axe-core checks the pages' accessibility (RGAA) in the Chromium tests, from the npm registry.
AXE_DIR=target/axe
if [ ! -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ]; then
  echo "tests/run.sh: installing axe-core for the accessibility tests" >&2
  mkdir -p "$AXE_DIR"
  npm install --prefix "$AXE_DIR" --no-save --no-audit --no-fund --silent axe-core@4.14.1 >/dev/null
fi

# The two checks every commit passes, before the tests: formatting and clippy's lints.
cargo fmt --all -- --check || { echo "tests/run.sh: run cargo fmt --all" >&2; exit 1; }
cargo clippy --workspace --all-targets --quiet -- -D warnings \
  || { echo "tests/run.sh: clippy found warnings (above)" >&2; exit 1; }

if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --no-fail-fast "$@"
else
  exec cargo test --workspace --no-fail-fast "$@"
fi
