#!/usr/bin/env bash
# Installs the Debian packages llmc builds against, when missing (apt-get; sudo when not root).
set -euo pipefail
need=()
for p in build-essential cmake pkg-config libcjson-dev libonig-dev libutf8proc-dev libcurl4-openssl-dev python3 python3-venv unzip; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
# python3-venv may be provided by a non-Debian python (pyenv): accept a working `python3 -m venv`.
if [[ " ${need[*]-} " == *" python3-venv "* ]] && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  need=("${need[@]/python3-venv}")
fi
if [[ " ${need[*]-} " == *" python3 "* ]] && command -v python3 >/dev/null; then need=("${need[@]/python3}"); fi
pkgs=()
for p in "${need[@]-}"; do [ -n "$p" ] && pkgs+=("$p"); done
# Optional: libmicrohttpd-dev (the HTTP server, `llmc serve`) and libedit-dev (line editing in
# `llmc chat`). Tried, never fatal: without them the build leaves those parts out and says so.
optional=()
for p in libmicrohttpd-dev libedit-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || optional+=("$p")
done
if [ ${#optional[@]} -gt 0 ]; then
  OSUDO=""; [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && OSUDO="sudo -n"
  if [ "$(id -u)" = 0 ] || [ -n "$OSUDO" ]; then
    DEBIAN_FRONTEND=noninteractive $OSUDO apt-get install -y -qq "${optional[@]}" >/dev/null 2>&1 ||
      { DEBIAN_FRONTEND=noninteractive $OSUDO apt-get update -qq >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive $OSUDO apt-get install -y -qq "${optional[@]}" >/dev/null 2>&1; } ||
      echo "llmc: note: could not install ${optional[*]}; the build leaves out what needs them" >&2
  else
    echo "llmc: note: ${optional[*]} is not installed (apt-get install ${optional[*]}); the build leaves out what needs them" >&2
  fi
fi
[ ${#pkgs[@]} -eq 0 ] && exit 0
echo "llmc: installing missing packages: ${pkgs[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "llmc: error: missing packages ${pkgs[*]}; run as root: apt-get install ${pkgs[*]}" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq "${pkgs[@]}" || {
  echo "llmc: error: could not install: ${pkgs[*]} (apt-get install ${pkgs[*]})" >&2; exit 1; }
