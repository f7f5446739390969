#!/bin/sh
# Debian's postfix for the bounce end-to-end test (tests/e2e/test_postfix_bounce.py), which runs a
# private instance of it (its own configuration and queue under a temporary directory, its own
# ports on 127.0.0.1); the system's own /etc/postfix instance is neither configured nor started.
# Installs it when absent; never fails the caller: when it cannot be had it says so in one line
# and exits 0, and the test then skips with one line saying why.
if [ -x /usr/sbin/postfix ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-postfix: postfix absent and no root apt-get here; the postfix bounce test will skip"
    exit 0
fi
# "No configuration": the package installs without asking and without setting up or starting a
# system mail server.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null
if ! { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null 2>&1; }; then
    echo "install-postfix: apt-get could not install postfix; the postfix bounce test will skip"
    exit 0
fi
echo "install-postfix: installed postfix $(/usr/sbin/postconf -d -h mail_version 2>/dev/null)"
