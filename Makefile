# The two commands of the README: `make demo` and `make test`. Everything they need is installed
# from here, so a fresh clone (and CI) needs nothing else.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= onnxruntime,openvino,tflite,ncnn,mnn,tvm,postgres,server,dash,ssh,ray,test
DEMO_MODEL ?= resnet
STAMP  := $(VENV)/.installed

.PHONY: demo test test-board board venv tflite-convert services browser sshd clean nightly

venv: $(STAMP)

# pnnx (ncnn's ONNX converter) is installed without its PyTorch dependency: ONNX conversion runs
# the executable inside its wheel (see the ncnn extra in pyproject.toml).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	$(BIN)/python -m pip install --quiet --no-deps 'pnnx>=20261020'
	touch $@

# The main job on the embedded default: SQLite ./bench.db, this machine as device `local`,
# every engine installed here on a zoo model, then the stored runs read back.
demo: $(STAMP)
	mkdir -p build/demo
	$(BIN)/bench zoo $(DEMO_MODEL) -o build/demo/$(DEMO_MODEL).onnx
	$(BIN)/bench run build/demo/$(DEMO_MODEL).onnx --duration 5
	$(BIN)/bench results --last 10
	$(BIN)/bench dashboard --latest -o build/demo/dashboard.html
	@echo "study page: file://$$(pwd)/build/demo/dashboard.html"

# The example nightly suite on this machine (docs/NIGHTLY.md): builds its model once, then runs
# it; exit 0 clean, 1 regression, 2 infrastructure failures. Outputs in build/nightly/nightly/.
nightly: $(STAMP)
	test -f build/nightly/mlp.onnx || $(BIN)/bench zoo mlp -o build/nightly/mlp.onnx
	$(BIN)/bench nightly suites/nightly.yaml

# PostgreSQL backs the database tests; start the local cluster if it is installed but down.
services:
	@if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -n1) main start || true; \
	fi

# The dashboard tests open every page in Debian's headless chromium; install it when missing.
browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver)

# The SSH transport tests start their own OpenSSH server on loopback; install it when missing.
sshd:
	@test -x /usr/sbin/sshd || (apt-get update && apt-get install -y --no-install-recommends openssh-server openssh-client)

# onnx2tf (ONNX -> TFLite) pins exact numpy/onnx/TensorFlow versions and weighs 2.4 GB, so it
# lives in its own environment; the agent runs it there through $$BENCH_TFLITE_CONVERT_PYTHON.
CONVERT_VENV ?= .venv-onnx2tf
CONVERT_STAMP := $(CONVERT_VENV)/.installed

tflite-convert: $(CONVERT_STAMP)

$(CONVERT_STAMP): pyproject.toml
	$(PYTHON) -m venv $(CONVERT_VENV)
	$(CONVERT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CONVERT_VENV)/bin/python -m pip install --quiet $$($(PYTHON) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['tflite-convert']))")
	touch $@

# The emulated aarch64 board of the board tests (tests/rig/): a Debian arm64 root filesystem
# with its own sshd, run under qemu-user through binfmt_misc. Built once (about 2 min) into
# ~/.cache/benchlab/boards/debian-arm64 and reused; rebuilt when missing or when the script's
# revision changes. Needs root: chroot, mount namespaces, binfmt_misc.
board: sshd
	@command -v debootstrap >/dev/null && test -x /usr/bin/qemu-aarch64-static && command -v update-binfmts >/dev/null || \
		(apt-get update && apt-get install -y --no-install-recommends debootstrap qemu-user-static binfmt-support)
	bash tests/rig/build_board.sh

test: $(STAMP) $(CONVERT_STAMP) services browser sshd board
	BENCH_TFLITE_CONVERT_PYTHON=$(CURDIR)/$(CONVERT_VENV)/bin/python $(BIN)/python -m pytest -q

test-board: $(STAMP) board
	$(BIN)/python -m pytest -q -m board tests/boards

clean:
	rm -rf $(VENV) $(CONVERT_VENV) build bench.db bench.db-wal bench.db-shm
