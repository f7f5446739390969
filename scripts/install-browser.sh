#!/bin/sh
# Debian's Chromium and its WebDriver for the console's browser tests (tests/e2e/test_console_browser.py),
# and a Japanese font so its screenshots (docs/console/) show the text.
# Installs them when absent; never fails the caller: when they cannot be had it says so in one line
# and exits 0, and the browser tests then skip with one line saying why.
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && [ -d /usr/share/fonts/opentype/ipafont-gothic ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: chromium/chromedriver/fonts absent and no root apt-get here; the browser tests will skip"
    exit 0
fi
if ! { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-ipafont-gothic >/dev/null 2>&1; }; then
    echo "install-browser: apt-get could not install chromium chromium-driver fonts-ipafont-gothic; the browser tests will skip"
    exit 0
fi
echo "install-browser: installed $(chromium --version 2>/dev/null | head -1)"
