#!/usr/bin/env bash
# Installs the Debian packages that the LDAP and Active Directory tests start as real
# directories (OpenLDAP slapd, Samba AD DC), PostgreSQL, which the tests of the postgres
# refresh token store start (test/pgtest), and curl, which test/systemtest runs as people
# run the curl that `make run` prints. Idempotent: installs only what is missing.
set -euo pipefail

packages=(slapd ldap-utils samba samba-ad-dc winbind krb5-user postgresql curl)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-test-deps: need root to install: ${missing[*]}" >&2
	exit 1
fi

# The tests run their own slapd, samba and postgres; keep the packages' services from
# starting.
policy=/usr/sbin/policy-rc.d
created_policy=false
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	created_policy=true
fi
trap 'if $created_policy; then rm -f "$policy"; fi' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y "${missing[@]}"

# Stop the system daemons in case they started anyway: a system slapd or samba would hold
# the LDAP ports that the Samba tests need.
for svc in slapd samba-ad-dc smbd nmbd winbind postgresql; do
	if [ -d /run/systemd/system ]; then
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	elif command -v service >/dev/null 2>&1; then
		service "$svc" stop >/dev/null 2>&1 || true
	fi
done
