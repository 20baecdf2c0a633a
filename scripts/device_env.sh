# Sourced by the device scripts (device_check.sh, device_session.sh), from the repository root: the Python to use
# (the GPU machine's python3; .venv's here when DEVICE=cpu) and the pinned wheels carried in .whl, on PYTHONPATH.
PY=${PY:-python3}
[ -x .venv/bin/python ] && [ "${DEVICE:-cuda}" = cpu ] && PY=.venv/bin/python
if [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
