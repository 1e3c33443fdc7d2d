# The idri image: the worker (default command), the API (`python -m idri.api`, port 7280), the
# codec server (`python -m idri.codec_server`) and the `idri` command for administrators.
# Built by docker-compose.yml; see docs/production.md.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs (no .git, no virtual environment, no local data).
COPY pyproject.toml README.md ./
COPY idri ./idri
COPY models ./models
COPY workflows ./workflows
COPY activities ./activities
COPY *.py ./
# Bytecode for /app too: `python worker.py` imports from here, the user cannot write here, and
# the workflow sandbox imports the workflow modules again for every workflow run.
RUN pip install . \
    && python -m compileall -q /app \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/idri --create-home idri

# The data directory: the worker's outbox and generated pages, the API's first admin token;
# compose mounts a named volume here for each.
ENV IDRI_DATA_DIR=/var/lib/idri
USER idri
EXPOSE 7280

CMD ["python", "worker.py"]
