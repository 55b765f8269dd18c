# The two commands of the README: `make demo` and `make test`. Everything they need is installed
# from here, so a fresh clone (and CI) needs nothing else.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= onnxruntime,openvino,tflite,postgres,dash,ssh,ray,test
DEMO_MODEL ?= resnet
STAMP  := $(VENV)/.installed

.PHONY: demo test venv services browser sshd clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
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

test: $(STAMP) services browser sshd
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build bench.db bench.db-wal bench.db-shm
