#!/usr/bin/env bash
# Installs the Debian packages Fathom uses, only those missing. Safe to run again and again.
#   chromium            the browser server's engine
#   bubblewrap          the python sandbox's isolation
#   e2fsprogs           mkfs.ext4, for the sandbox workspaces a root server loop-mounts (hard quotas)
#   python3 + libs      the python sandbox's interpreter and the packages of E2B's code-interpreter
#                       image that Debian ships small (README: python-sandbox lists the gaps)
#   poppler-utils       pdftohtml, the files server's fast PDF text reader (pdf.js is the fallback)
#   pandoc              the DOCX baseline of the document benchmarks
#   redis-server, nginx the eval queue, shared cache and balancer tests (each test starts its own on loopback)
set -euo pipefail

packages=(chromium bubblewrap e2fsprogs python3 python3-numpy python3-pandas python3-scipy python3-sympy
  python3-matplotlib python3-requests python3-sklearn python3-bs4 python3-openpyxl python3-xlrd python3-docx
  python3-seaborn python3-pil python3-tz python3-joblib python3-imageio python3-soundfile python3-xarray
  python3-nltk python3-aiohttp python3-pytest poppler-utils pandoc redis-server nginx)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-system: all system packages present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: not a Debian-like system; install these yourself: ${missing[*]}" >&2
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo)
  else
    echo "setup-system: not root, so these were not installed: ${missing[*]}" >&2
    echo "setup-system: run: sudo apt-get install -y ${missing[*]}" >&2
    exit 0
  fi
fi

echo "setup-system: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
