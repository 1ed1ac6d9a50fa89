# make demo  — set up .venv and run the whole pipeline on the built-in digits teacher and data
# make test  — set up .venv and run the test suite
# make bench — set up .venv and print the measured figures quoted in README.md

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgedistill-installed

.PHONY: setup system-deps web-deps demo test bench bench-quant bench-fidelity bench-teacher bench-distill clean

setup: $(STAMP)

# torch goes in first, pinned to the CPU build, and constraints.txt keeps every later install from
# replacing it (a newer torch from the registry would pull several GB of CUDA wheels).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@if $(BIN)/python -m pip list 2>/dev/null | grep -i '^nvidia-'; then \
		echo "error: CUDA wheels (nvidia-*) were installed into $(VENV); a requirement pulled a CUDA torch" >&2; exit 1; fi
	@$(BIN)/python -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else 'torch ' + v + ' installed, expected the 2.13.0 CPU build')"
	@touch $(STAMP)

demo: setup
	$(BIN)/edgedistill demo -o demo-out

# Debian packages the tests use: chromium (HTML reports, the web example, browser profiling) and
# OpenSSH (a throwaway sshd on 127.0.0.1 for --remote). Installed when missing and root, as on CI;
# otherwise those tests skip locally (and fail under CI=true).
SYSTEM_PKGS := chromium openssh-server openssh-client
system-deps:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	{ command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; } || missing="$$missing openssh-server"; \
	command -v ssh >/dev/null 2>&1 || missing="$$missing openssh-client"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "note:$$missing not installed and this user cannot apt-get; the tests that need them will skip"; fi; fi

# onnxruntime-web and playwright-core for the browser example and its test, pinned by package-lock.json.
web-deps: examples/web/node_modules/.package-lock.json

examples/web/node_modules/.package-lock.json: examples/web/package.json examples/web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then cd examples/web && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "note: npm is not installed; the browser example's test will skip"; fi

test: setup system-deps web-deps
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/teacher_vs_student.py

bench-quant: setup
	$(BIN)/python benchmarks/quantization.py

bench-fidelity: setup
	$(BIN)/python benchmarks/profile_fidelity.py

bench-teacher: setup
	$(BIN)/python benchmarks/teacher_pass.py

bench-distill: setup
	$(BIN)/python benchmarks/distill_quality.py
	$(BIN)/python benchmarks/distill_speed.py
	$(BIN)/python benchmarks/distill_speed.py --hidden 512,512

clean:
	rm -rf $(VENV) demo-out .pytest_cache
