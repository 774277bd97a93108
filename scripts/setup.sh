#!/usr/bin/env bash
# Set up liveengine on this machine: system libraries, then a virtual environment in .venv.
#   scripts/setup.sh play   what playing needs (PortAudio)
#   scripts/setup.sh test   what the tests need too (a JACK server, liblo tools, Pure Data for the Pd panel's test,
#                           Chromium and its driver for the web panel's, PyTorch and two Debian sample
#                           packages for training's: the held-in folder is checked never to take a held-out kit)
#   scripts/setup.sh bench  what the tests need, and what the drum data set is built from (bench/model_quality.py,
#                           training): fluidsynth and fluid-soundfont-gm
# As root (a container, CI, a fresh server) it installs missing system packages with
# apt-get. As anyone else it never runs a package manager: it prints the command to run.
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-play}"

say() { printf 'setup: %s\n' "$*"; }

system_packages() {
  case "$(uname -s)" in
    Linux)
      if ! command -v dpkg >/dev/null 2>&1; then
        say "not a Debian-family system: make sure PortAudio (libportaudio2)${purpose/test/ and a JACK server (jackd2)} are installed."
        return 0
      fi
      local wanted=(libportaudio2)
      [ "$purpose" != play ] && wanted+=(jackd2 liblo-tools puredata-core chromium chromium-driver sonic-pi-samples hydrogen-drumkits)
      # rt-tests: cyclictest, the machine's own real-time floor beside bench/server_load.py's runs
      [ "$purpose" != play ] && wanted+=(rt-tests)
      [ "$purpose" = bench ] && wanted+=(fluidsynth fluid-soundfont-gm)
      local missing=()
      for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
      done
      [ ${#missing[@]} -eq 0 ] && return 0
      if [ "$(id -u)" = 0 ]; then
        say "installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
      else
        say "missing system packages: ${missing[*]}"
        say "run:  sudo apt-get install -y --no-install-recommends ${missing[*]}"
        say "then run this command again."
        exit 1
      fi
      ;;
    Darwin)
      # PortAudio ships inside the sounddevice wheel on macOS.
      if [ "$purpose" != play ] && ! command -v jackd >/dev/null 2>&1; then
        say "the tests need a JACK server; run:  brew install jack   then run this command again."
        exit 1
      fi
      ;;
    *)
      say "unsupported system $(uname -s): install PortAudio by hand; the Python part follows."
      ;;
  esac
}

python_env() {
  local python=""
  for candidate in python3.13 python3.12 python3.11 python3; do
    # 2>/dev/null: a version manager's shim for a version that is not installed answers
    # `command -v` and then fails loudly when run (pyenv: "python3.13: command not found").
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python="$candidate"; break
    fi
  done
  if [ -z "$python" ]; then
    say "liveengine needs Python 3.11 or newer; install it (e.g. sudo apt-get install python3) and run this again."
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv with $($python --version)"
    "$python" -m venv .venv || { say "could not create a virtual environment; on Debian/Ubuntu: sudo apt-get install python3-venv"; exit 1; }
  fi
  # Reinstall only when the package description changed.
  local stamp=.venv/.liveengine-installed
  local want
  want="$(.venv/bin/python -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')-$purpose"
  if [ ! -f "$stamp" ] || ! grep -qx "$want" "$stamp" 2>/dev/null; then
    say "installing liveengine and its Python dependencies into .venv"
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    local extras=""
    # The tests train a model too (tests/training): the train extra's torch==2.13.0 is the CPU build from pip.
    [ "$purpose" != play ] && extras="[test,train]"
    # pip's warnings (about the index, about versions) are kept in a log, shown only if it fails.
    if ! .venv/bin/python -m pip install -q -e ".$extras" >.venv/pip-install.log 2>&1; then
      cat .venv/pip-install.log >&2
      say "pip could not install liveengine (its output is above, and in .venv/pip-install.log)."
      exit 1
    fi
    echo "$want" >> "$stamp"
  fi
}

system_packages
python_env
say "ready ($purpose)."
