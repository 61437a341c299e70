# Shared by bin/run and bin/test: create .venv and install the project when pyproject.toml changed.
ensure_venv() {
  local extras="$1"
  local python="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $($python --version)…"
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed${extras:+-$extras}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "Installing Kabao${extras:+ with [$extras]}…"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
    touch "$stamp"
  fi
  # shellcheck disable=SC1091
  source .venv/bin/activate
}
